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
fn strtol_agrees_with_the_user_side() {
    let body = "b = 16; t = \"  -42xyz\"\n\
        println(strtol(t, 10), \" \", strtol(\"ff\", b), \" \", strtol(\"-0xFF\", b), \" \", strtol(\"0x1f\", 0), \" \", \
                strtol(\"017\", 0), \" \", strtol(\"+19\", 0), \" \", strtol(\"z\", 10), \" \", strtol(\"Zz\", 36), \" \", \
                strtol(\"101\", 2), \" \", strtol(\"\", 0), \" \", strtol(\"0x\", 16), \" \", strtol(\"\\t\\n 7\", 8))\n\
        println(strtol(\"99999999999999999999\", 10), \" \", strtol(\"-99999999999999999999\", 10), \" \", \
                strtol(\"9223372036854775807\", 10), \" \", strtol(\"-9223372036854775807\", 0))\n\
        try { println(strtol(\"12\", b - 15)) } catch (e) { println(\"caught: \", e) }\n\
        try { println(strtol(\"12\", 37)) } catch (e) { println(\"caught: \", e) }\n";
    agree(
        "strtol in kernel handlers",
        body,
        &[],
        "-42 255 -255 31 15 19 0 1295 5 0 0 7\n\
         9223372036854775807 -9223372036854775807 9223372036854775807 -9223372036854775807\n\
         caught: Base must be between 2 and 36 (or 0)\n\
         caught: Base must be between 2 and 36 (or 0)\n",
    );
}

#[test]
fn a_bad_strtol_base_is_an_error_at_its_line() {
    if !as_root("strtol errors in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    if (pid() == target()) { b = 1; println(strtol(\"5\", b)) }\n\
                  }\n";
    let cmd = super::getppid_command(1, 0);
    let (status, out, err) = super::stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!((status, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("ERROR: Base must be between 2 and 36 (or 0) near identifier 'strtol' at <input>:2:"),
        "{err}"
    );
}

#[test]
fn text_str_escapes_as_the_user_side() {
    let body = "s = \"a\\tb\\n\\\"q\\\"\\\\\" . \"\\001\\177\\377x\"\n\
        println(text_str(s), \"|\", text_str(\"\"), \"|\", string_quoted(\"x\\ny\"), \"|\", string_quoted(\"\"))\n\
        q = 1; n = 3\n\
        println(text_strn(\"abcdef\", n, q), \"|\", text_strn(\"abc\", 0, q), \"|\", text_strn(\"abcdef\", n, 0), \"|\", \
                text_strn(\"abc\", 3, 1), \"|\", text_strn(\"a\\rb\", -1, q - 1))\n";
    agree(
        "text_str in kernel handlers",
        body,
        &[],
        "a\\tb\\n\\\"q\\\"\\\\\\001\\177\\377x||\"x\\ny\"|\"\"\n\"abc\"...|\"abc\"|abc|\"abc\"|a\\rb\n",
    );
}

#[test]
fn text_str_keeps_whole_escapes_within_maxstringlen() {
    // MAXSTRINGLEN 16: 15 bytes of text, 10 inside the quotes.
    let body = "s = \"abcdefghijkl\\n\"; t = \"abcdefgh\\001\"\n\
        println(text_str(s), \"|\", text_str(t))\n\
        println(string_quoted(s), \"|\", text_strn(t, 0, 1), \"|\", string_quoted(\"abcdefghij\"))\n";
    agree(
        "text_str truncating in kernel handlers",
        body,
        &["-D", "MAXSTRINGLEN=16"],
        "abcdefghijkl\\n|abcdefgh\\001\n\"abcdefghij\"...|\"abcdefgh\"...|\"abcdefghij\"\n",
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
                text_strn(k, 3, 1), \" \", strtol(k, 36), \" \", isinstr(k, \"ca\" . \"b\"))\n";
    agree(
        "string functions in foreach bodies",
        body,
        &[],
        "bANANa 2 \"ban\"... 683010982 0\ncabANa 4 \"cab\"... 742917286 1\n",
    );
}

#[test]
fn variance_in_a_kernel_handler_agrees_with_the_user_side() {
    if !as_root("@variance in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Fifteen values, the 8th to 12th on a second CPU when there is one:
    // the kernel combines the CPUs' records as the user side does, stap's
    // integer truncations included (a statistic without keys in one
    // step, an array's element CPU by CPU).
    let two = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let other = if two { 1 } else { 0 };
    let cmd = format!(
        "sh -c 'taskset -c 0 perl -e \"getppid() for 1..7\"; taskset -c {other} perl -e \"getppid() for 1..5\"; \
         taskset -c 0 perl -e \"getppid() for 1..3\"'"
    );
    let extract = "\"%d %d %d %d\", @variance(s), @variance(a[\"x\"]), @variance(a[\"y\"]), @count(s)";
    let script = format!(
        "global s, a, e, n, last\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (execname() != \"perl\") next\n\
           n++; v = n * n * 37 % 101 - 20\n\
           s <<< v; a[\"x\"] <<< v; a[\"y\"] <<< n\n\
           last = sprintf({extract})\n\
           foreach (k in a @variance-) last .= sprintf(\" %s:%d\", k, @variance(a[k]))\n\
           foreach (q = k in a @variance+) last .= sprintf(\" %s=%d\", k, q)\n\
           try {{ last .= sprint(\" \", @variance(e)) }} catch (m) {{ last .= \" \" . m }}\n\
           a[\"z\"] <<< 5; last .= sprint(\" \", @variance(a[\"z\"])); delete a[\"z\"]\n\
         }}\n\
         probe end {{\n\
           println(last)\n\
           printf({extract})\n\
           foreach (k in a @variance-) printf(\" %s:%d\", k, @variance(a[k]))\n\
           foreach (q = k in a @variance+) printf(\" %s=%d\", k, q)\n\
           println(\"\")\n\
         }}\n"
    );
    let (status, out, err) = super::stp_run_clean(&["-c", &cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let (kernel, user) = if two {
        ("712 712 48 15 x:712 y:48 y=48 x=712 empty aggregate 0", "712 712 48 15 x:712 y:48 y=48 x=712")
    } else {
        ("708 707 72 15 x:707 y:72 y=72 x=707 empty aggregate 0", "708 707 72 15 x:707 y:72 y=72 x=707")
    };
    assert_eq!(out, format!("{kernel}\n{user}\n"), "{err}");
}
