//! String functions in kernel handlers: each runs in the kernel and in a
//! `begin` probe (the user side), and both must print what stap's
//! semantics say.

use super::foreach::on_both_sides;
use super::{PASS5, as_root};

/// Runs `body` on both sides (with `options`) and checks that each
/// printed `want`.
fn agree(what: &str, body: &str, options: &[&str], want: &str) {
    if !as_root(what) {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, user, kernel, err) = on_both_sides("a", body, options);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}

#[test]
fn isinstr_and_strpos_with_computed_needles() {
    // Needles built at run time, a literal one too long to unroll, empty
    // strings, and a needle running past the haystack's end.
    let long = "x".repeat(60);
    let body = format!(
        "s = \"hello world\"; n = \"o\" . \" w\"; e = \"\"\n\
         printf(\"%d%d%d%d%d%d\\n\", isinstr(s, n), isinstr(s, n . \"x\"), isinstr(s, e), isinstr(e, e), \
                isinstr(e, n), isinstr(s, s))\n\
         printf(\"%d %d %d %d %d %d\\n\", strpos(s, n), strpos(s, \"l\"), strpos(s, e), strpos(e, n), \
                strpos(s, \"world!\"), strpos(s, \"d\"))\n\
         l = \"{long}\"; printf(\"%d%d%d\\n\", isinstr(\"a\" . l, \"{long}\"), isinstr(l, \"{long}y\"), \
                isinstr(\"ab\", \"{long}\"))\n"
    );
    agree("isinstr and strpos in kernel handlers", &body, &[], "101101\n4 2 0 -1 -1 10\n100\n");
}

#[test]
fn str_replace_agrees_with_the_user_side() {
    let body = "s = \"a-b-c\"; d = \"-\"\n\
        println(str_replace(s, d, \"+\"), \"|\", str_replace(\"aaaa\", \"aa\", \"b\"), \"|\", \
                str_replace(s, \"\", \"x\"), \"|\", str_replace(\"\", d, \"x\"), \"|\", \
                str_replace(\"hello\", \"l\", \"\"), \"|\", str_replace(s, \"b-c\", s . s), \"|\", \
                str_replace(s, \"zz\", \"y\"))\n";
    agree("str_replace in kernel handlers", body, &[], "a+b+c|bb|a-b-c||heo|a-a-b-ca-b-c|a-b-c\n");
}

#[test]
fn str_replace_truncates_at_maxstringlen() {
    // 15 bytes fit in a string of MAXSTRINGLEN 16.
    let body = "s = \"abcabcabcabc\"\n\
        println(str_replace(s, \"b\", \"XYZ\"))\n\
        println(str_replace(s, \"c\", \"\"), \"|\", str_replace(\"aaaaaaaaaaaaaaa\", \"a\", \"bb\"))\n";
    agree(
        "str_replace truncating in kernel handlers",
        body,
        &["-D", "MAXSTRINGLEN=16"],
        "aXYZcaXYZcaXYZc\nabababab|bbbbbbbbbbbbbbb\n",
    );
}

#[test]
fn tokenize_keeps_its_place_between_calls() {
    let body = "s = \"a,b,,c\"; d = \",\"\n\
        println(tokenize(s, d), \"|\", tokenize(\"\", d), \"|\", tokenize(\"\", d), \"|\", tokenize(\"\", d), \"|\", \
                tokenize(\"\", d), \"|\")\n\
        println(tokenize(\"  one two;three \", \" ;\"), \"|\", tokenize(\"\", \" ;\"), \"|\", tokenize(\"\", \"; \"), \"|\", \
                tokenize(\"\", \" \"), \"|\")\n\
        println(tokenize(\"whole\", \"\"), \"|\", tokenize(\"\", \"\"), \"|\", tokenize(\",,,\", \",\"), \"|\")\n";
    agree("tokenize in kernel handlers", body, &[], "a|b|c|||\none|two|three||\nwhole|||\n");
}

#[test]
fn string_functions_run_in_foreach_bodies() {
    // The searches' callbacks nest in the loop's.
    let body = "delete a; a[\"banana\"] = 1; a[\"cabana\"] = 2\n\
        foreach (k+ in a) println(str_replace(k, \"an\", \"AN\"), \" \", strpos(k, \"na\"), \" \", \
                isinstr(k, \"ca\" . \"b\"))\n";
    agree("string functions in foreach bodies", body, &[], "bANANa 2 0\ncabANa 4 1\n");
}
