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

#[test]
fn sprintf_flags_precisions_and_star_counts_agree_with_the_user_side() {
    let body = "n = -42; m = 255; z = 0; w = 7; nw = -7; p = 3; s = \"sample\"\n\
        println(sprintf(\"%-5d|%+d|% d|%+d|%#o|%#x|%#X|%#x|%05d|%-05d|%+05d\", n, m, m, n, 8, m, m, z, n, n, m))\n\
        println(sprintf(\"%.3d|%.0d|%8.3x|%-8.3x|%08.3d|%.5d|%+.0d|%#.3o|%.0x\", 7, z, 10, 10, n, n, z, 8, z))\n\
        println(sprintf(\"%*d|%-*d|%*d|%.*d|%*.*d|%.*d\", w, n, w, n, nw, n, p, 4, w, p, 5, -1, 9))\n\
        println(sprintf(\"%.3s|%8.3s|%-8.3s|%*s|%-*s|%.*s|%.0s|%10s|%3s|%-3s|\", s, s, s, w, \"ab\", w, \"ab\", p, s, \
                s, s, s, s))\n\
        println(sprintf(\"%c|%3c|%-3c|%c%c|%*c|%05c|\", 65, 66, 67, 72, 105, nw, 68, 69))\n\
        println(sprintf(\"%p|%20p|%-20p|%#p|%.20p|%020p\", 4096, 4096, 4096, 4096, 4096, 4096))\n\
        println(sprintf(\"%u|%x|%o|%+u|%d|%+d|% 5d\", -1, -1, -1, 5, -9223372036854775807 - 1, 0, 3))\n\
        println(sprintf(\"%60d|\", 1))\n";
    let want = "-42  |+255| 255|-42|010|0xff|0XFF|0|-0042|-42  |+0255\n\
        007||     00a|00a     |-0000042|-00042|+|0010|\n\
        \x20   -42|-42    |-42    |004|    005|9\n\
        sam|     sam|sam     |     ab|ab     |sam||    sample|sample|sample|\n\
        A|  B|C  |Hi|D      |    E|\n\
        0x0000000000001000|  0x0000000000001000|0x0000000000001000  |0x0000000000001000|\
        0x00000000000000001000|0x000000000000001000\n\
        18446744073709551615|ffffffffffffffff|1777777777777777777777|5|-9223372036854775808|+0|    3\n";
    let mut want = want.to_string();
    want.push_str(&format!("{}1|\n", " ".repeat(59)));
    agree("sprintf flags and precisions in kernel handlers", body, &[], &want);
}

#[test]
fn sprintf_truncates_padding_at_maxstringlen() {
    // MAXSTRINGLEN 16: 15 bytes, wherever the cut falls.
    let body = "w = 40\n\
        println(sprintf(\"%*d|\", w, 7), \"|\", sprintf(\"%-*d|\", w, 7), \"|\", sprintf(\"%.20d\", 7))\n\
        println(sprintf(\"ab%-12s|%x\", \"cd\", 255), \"|\", sprintf(\"%+.14d\", 5))\n";
    agree(
        "sprintf truncating in kernel handlers",
        body,
        &["-D", "MAXSTRINGLEN=16"],
        "               |7              |000000000000000\nabcd          ||+00000000000005\n",
    );
}

#[test]
fn sprintf_binary_bytes_and_nul_end_the_text() {
    // The user side's string ends at its first NUL; so does the kernel's.
    let body = "z = 0; two = 2\n\
        println(sprintf(\"%1b%1b%1b|%2b|%4b|%b|\", 72, 105, 33, 0x4142, 0x44434241, 0x45))\n\
        println(sprintf(\"%*b|%.*b|%-3d\", two, 0x4142, 1, 0x41, 5))\n\
        println(sprintf(\"a%1bz\", z), \"|\", sprintf(\"x%cy\", z), \"|\", sprintf(\"%3c|\", z), \"|\", \
                sprintf(\"%1b%s\", 0x4100, \"more\"))\n";
    agree("sprintf %b and %c in kernel handlers", body, &[], "Hi!|BA|ABCD|E\nBA|A|5  \na|x|  |\n");
}

#[test]
fn sprintf_reads_memory_with_m_and_big_m() {
    if !as_root("%m and %M in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Kernel memory: the file name exec copied (for `-c`, the path
    // given); user memory (`#`): the name openat was given. A fault is
    // an error.
    let script = "probe kernel.trace(\"sched:sched_process_exec\") {\n\
          if (pid() != target()) next\n\
          f = $bprm->filename\n\
          println(sprintf(\"[%.9m|%.4M|%12.5m|%-12.3M|%m|%.0m|%*.*M]\", f, f, f, f, f, f, -8, 2, f))\n\
          try { println(sprintf(\"%.4m\", 8)) } catch (e) { println(\"caught: \", e) }\n\
        }\n\
        probe kernel.trace(\"syscalls:sys_enter_openat\") {\n\
          if (pid() == target() && user_string($filename, \"\") == \"/etc/hostname\")\n\
            println(sprintf(\"[%#.4m|%#.4M|%#-6.2m]\", $filename, $filename, $filename))\n\
        }\n";
    let (status, out, err) =
        super::stp_run_clean(&["-c", "/usr/bin/perl -e 'open(F, \"/etc/hostname\")'", "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        out,
        "[/usr/bin/|2f757372|       /usr/|2f7573      |/||2f75    ]\n\
         caught: kernel read fault\n\
         [/etc|2f657463|/e    ]\n",
        "{err}"
    );
}

/// Large MAXSTRINGLEN: comparisons, lengths, searches, concatenation,
/// sprintf, regular expressions and string keys on strings longer than
/// the default 128 bytes agree with the user side, the verifier taking
/// the byte loops as `bpf_loop` callbacks or helper calls.
#[test]
fn long_strings_agree_with_the_user_side_at_each_maxstringlen() {
    let body = "delete m\n\
        a = \"ab\"; for (i = 0; i < 9; i++) a = a . a\n\
        b = a . \"yz\"; m[b] = strlen(b)\n\
        printf(\"%d %d %d %d %d %d\\n\", strlen(a), a == b, a < b, b > a, isinstr(b, \"yz\"), a =~ \"^(ab)+$\")\n\
        printf(\"%d %d %d %s|\\n\", m[b], strlen(sprintf(\"%s|%d\", b, 5)), strpos(a, \"ba\"), substr(b, 1020, 6))\n\
        printf(\"%d %d\\n\", [b] in m, strlen(str_replace(a, \"ab\", \"c\")))\n";
    for size in [512usize, 1024, 2048] {
        // What stap's semantics give: each string cut at the size less
        // its NUL.
        let cut = |s: String| s.chars().take(size - 1).collect::<String>();
        let a = cut("ab".repeat(512));
        let b = cut(format!("{a}yz"));
        let l = a.len();
        let tail: String = b.chars().skip(1020).take(6).collect();
        let want = format!(
            "{l} {} {} {} {} {}\n{} {} 1 {tail}|\n1 {}\n",
            i32::from(a == b),
            i32::from(a < b),
            i32::from(b > a),
            i32::from(b.contains("yz")),
            i32::from(l % 2 == 0),
            b.len(),
            (b.len() + 2).min(size - 1),
            l / 2 + l % 2,
        );
        if !as_root("long strings in kernel handlers") {
            return;
        }
        let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
        let define = format!("MAXSTRINGLEN={size}");
        let (status, user, kernel, err) = on_both_sides("m", body, &["-D", &define]);
        assert_eq!(status, 0, "{err}");
        assert_eq!(user, want, "the user side at {size}: {err}");
        assert!(l > 128, "strings past the default size");
        assert_eq!(kernel, want, "the kernel at {size}: {err}");
    }
}

/// Past what the scratch record's 16-bit offsets reach, a script is
/// refused when it is compiled, at its probe, not by the verifier.
#[test]
fn too_many_long_strings_are_refused_when_compiled() {
    if !as_root("long strings refused") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
        a = \"x\"; for (i = 0; i < 11; i++) a = a . a\n\
        printf(\"%d %d %d\\n\", strlen(a), a > \"x\", isinstr(a, \"xy\"))\n\
      }";
    let (status, _, err) = super::stp_run_clean(&["-p4", "-D", "MAXSTRINGLEN=4096", "-e", script]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("past 32 KiB of values") && err.contains("<input>:1:"), "{err}");
    assert!(!err.contains("verifier"), "{err}");
}
