//! Scripts through passes 1 to 3, their user-placed handlers compiled and
//! run on a [`MemHost`], the output checked byte for byte.

use std::path::Path;

use stp_compiler::diag::Diagnostic;
use stp_compiler::driver::{self, Options, ScriptInput};
use stp_compiler::elab::points::ProbeKind;
use stp_compiler::kernel::Kernel;
use stp_compiler::layout::{Layout, Limits};
use stp_compiler::source::SourceMap;

use super::Jit;
use super::testing::MemHost;
use crate::host::RuntimeError;

struct Compiled {
    module: stp_compiler::ir::Module,
    layout: Layout,
    jit: Jit,
    /// `(is_begin, handler function)` in probe order.
    handlers: Vec<(ProbeKind, stp_compiler::ir::FuncId)>,
}

fn kernel() -> Kernel {
    Kernel::snapshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel"))
}

fn try_compile(script: &str, defines: &[&str]) -> Result<Compiled, Vec<Diagnostic>> {
    let opts = Options {
        scripts: vec![ScriptInput { name: "<input>".to_string(), text: script.to_string() }],
        defines: defines.iter().map(|d| d.to_string()).collect(),
        ..Options::default()
    };
    let kernel = kernel();
    let mut sm = SourceMap::new();
    let (parsed, diags) = driver::parse_pass(&opts, &kernel, &mut sm);
    let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let (program, diags) = driver::elaborate_pass(&opts, &kernel, &parsed);
    let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let module = stp_compiler::ir::lower::lower(&program)?;
    let limits = Limits::from_defines(&opts.defines).map_err(|d| vec![d])?;
    let layout = Layout::new(&module, limits).map_err(|d| vec![d])?;
    let points: Vec<String> =
        program.probes.iter().map(|p| p.points.first().map(|pt| pt.name.clone()).unwrap_or_default()).collect();
    let jit = Jit::compile(&module, &layout, &points).map_err(|d| vec![d])?;
    let handlers = module
        .handlers
        .iter()
        .filter_map(|h| {
            let kind = program.probes.get(h.probe)?.points.first()?.kind.clone();
            Some((kind, h.func))
        })
        .collect();
    Ok(Compiled { module, layout, jit, handlers })
}

fn compile_with(script: &str, defines: &[&str]) -> Compiled {
    match try_compile(script, defines) {
        Ok(c) => c,
        Err(d) => panic!("the script does not compile: {d:#?}"),
    }
}

/// Runs the begin handlers, then the end handlers; the output and the
/// first uncaught error.
fn run_with(script: &str, defines: &[&str]) -> (String, Option<RuntimeError>, MemHost) {
    let c = compile_with(script, defines);
    let mut host = MemHost::new(&c.module, &c.layout);
    let mut error = None;
    for want_begin in [true, false] {
        for (kind, f) in &c.handlers {
            let is_begin = matches!(kind, ProbeKind::Begin { .. });
            let is_end = matches!(kind, ProbeKind::End { .. });
            if ((want_begin && is_begin) || (!want_begin && is_end))
                && let Err(e) = c.jit.run(*f, &mut host)
            {
                error.get_or_insert(e);
            }
        }
    }
    (host.text(), error, host)
}

fn run(script: &str) -> (String, Option<RuntimeError>) {
    let (out, err, _) = run_with(script, &[]);
    (out, err)
}

fn output(script: &str) -> String {
    let (out, err) = run(script);
    assert_eq!(err, None, "unexpected runtime error; output so far: {out:?}");
    out
}

#[test]
fn long_arithmetic_wraps_like_stap() {
    let out = output(
        r#"probe begin {
            x = 9223372036854775807
            println(x + 1)
            println(-7 / 2, " ", -7 % 2, " ", 7 % -3)
            m = -9223372036854775807 - 1
            println(m / -1, " ", m % -1)
            println(1 << 65, " ", -16 >> 2, " ", 6 & 3, " ", 6 | 3, " ", 6 ^ 3, " ", ~0)
            println(!5, " ", !0, " ", -(-3))
        }"#,
    );
    assert_eq!(out, "-9223372036854775808\n-3 -1 1\n-9223372036854775808 0\n2 -4 2 7 5 -1\n0 1 3\n");
}

#[test]
fn division_by_zero_is_an_error_at_the_operator() {
    let script = "probe begin { print(\"a\") ; z = 0 ; print(10 / z) ; print(\"b\") }";
    let (out, err) = run(script);
    assert_eq!(out, "a");
    let err = err.expect("a runtime error");
    assert_eq!(err.message, "division by 0");
    let span = err.span.expect("the error has a span");
    // The operator's span: the text between the operands.
    assert_eq!(script.get(span.range()).map(str::trim), Some("/"));
    let (_, err) = run("probe begin { z = 0 ; print(10 % z) }");
    assert_eq!(err.map(|e| e.message), Some("division by 0".to_string()));
}

#[test]
fn strings_compare_concatenate_and_truncate() {
    let out = output(
        r#"probe begin {
            s = "abc" . "def"
            println(s, " ", strlen(s))
            println("abc" < "abd", " ", "b" > "abc", " ", "x" == "x", " ", "x" != "x")
            t = ""
            for (i = 0; i < 40; i++) t = t . "0123456789"
            println(strlen(t))
            println(substr("hello world", 6, 5), "|", substr("hi", 5, 1), "|", isinstr("hello", "ell"))
            println(str_replace("a-b-c", "-", "+"), " ", strtol("ff", 16), " ", text_str("a\tb"))
        }"#,
    );
    assert_eq!(out, "abcdef 6\n1 1 1 0\n127\nworld||1\na+b+c 255 a\\tb\n");
}

#[test]
fn maxstringlen_applies_to_every_string_operation() {
    let (out, err, _) = run_with(
        r#"global g
        probe begin {
            s = "0123456789abcdef"
            g = s . s
            println(s, " ", g, " ", strlen(g))
            printf("%s\n", sprintf("%s%s", s, s))
        }"#,
        &["MAXSTRINGLEN=8"],
    );
    assert_eq!(err, None);
    assert_eq!(out, "0123456 0123456 7\n0123456\n");
}

#[test]
fn regex_match_and_groups() {
    let out = output(
        r#"probe begin {
            println("hello123" =~ "^[a-z]+[0-9]{3}$", " ", "abc" =~ "^b", " ", "abc" !~ "^b")
            if ("key=value" =~ "([a-z]+)=([a-z]+)") println(matched(1), "/", matched(2))
        }"#,
    );
    assert_eq!(out, "1 0 1\nkey/value\n");
}

#[test]
fn globals_arrays_and_sorted_foreach() {
    let out = output(
        r#"global count = 5, name = "n", a, b
        probe begin {
            count += 2
            name = name . "x"
            a["c"] = 3 ; a["a"] = 1 ; a["b"] = 2 ; a["d"] = 0
            foreach (k+ in a) printf("%s=%d ", k, a[k])
            println("")
            foreach (k in a- limit 2) printf("%s ", k)
            println("")
            foreach ([k] in a+) printf("%d ", a[k])
            println("")
            b[1, "x"] = 10 ; b[2, "y"] = 20 ; b[1, "z"] = 30
            foreach ([i, s] in b[1, *]) printf("%d,%s ", i, s)
            println("")
            println(["a"] in a, " ", ["zz"] in a, " ", [2, *] in b, " ", [3, *] in b)
            delete b[1, *]
            foreach ([i, s] in b) printf("%d,%s ", i, s)
            delete a["a"]
            println(count, " ", name, " ", a["a"], " ", a["b"])
        }"#,
    );
    assert_eq!(out, "a=1 b=2 c=3 d=0 \nc b \n0 1 2 3 \n1,x 1,z \n1 0 1 0\n2,y 7 nx 0 2\n");
}

#[test]
fn array_overflow_is_an_error() {
    let (out, err) = run("global a[2] probe begin { a[1] = 1 ; a[2] = 2 ; a[2] = 3 ; print(\"ok\") ; a[3] = 3 }");
    assert_eq!(out, "ok");
    assert_eq!(err.map(|e| e.message), Some("Array overflow, check size limit (2)".to_string()));
}

#[test]
fn statistics_extractors() {
    let out = output(
        r#"global s, t
        probe begin {
            s <<< 1 ; s <<< 2 ; s <<< 3 ; s <<< 10
            printf("%d %d %d %d %d\n", @count(s), @sum(s), @min(s), @max(s), @avg(s))
            t["x"] <<< 5 ; t["y"] <<< 7 ; t["y"] <<< 9
            foreach (k in t @sum-) printf("%s:%d ", k, @count(t[k]))
            println(@count(t["none"]), " ", @sum(t["none"]))
            println(@hist_log(s)[64 + 2], " ", @hist_log(s)[64 + 4])
        }"#,
    );
    assert_eq!(out, "4 16 1 10 4\ny:2 x:1 0 0\n2 1\n");
}

#[test]
fn empty_aggregate_is_an_error() {
    let (_, err) = run("global s probe begin { s <<< 1 ; delete s ; print(@avg(s)) }");
    assert_eq!(err.map(|e| e.message), Some("empty aggregate".to_string()));
    let (_, err) = run("global s probe begin { s <<< 1 ; print(@hist_log(s)[128]) }");
    assert_eq!(err.map(|e| e.message), Some("histogram index out of range".to_string()));
}

#[test]
fn recursion_and_nesting_limit() {
    let out = output(
        r#"function fib(n) { if (n < 2) return n ; return fib(n - 1) + fib(n - 2) }
        function greet:string(who:string) { return "hi " . who }
        probe begin { println(fib(9), " ", greet("you")) }"#,
    );
    assert_eq!(out, "34 hi you\n");
    let (_, err) = run("function f(n) { return f(n + 1) } probe begin { f(0) }");
    assert_eq!(err.map(|e| e.message), Some("MAXNESTING exceeded".to_string()));
    // Ten nested calls are allowed, an eleventh is not.
    let depth = "function d(n) { if (n > 1) return d(n - 1) ; return 0 }";
    assert_eq!(run(&format!("{depth} probe begin {{ d(10) }}")).1, None);
    // -D MAXNESTING=N moves the limit.
    let three = |n: u32| run_with(&format!("{depth} probe begin {{ d({n}) }}"), &["MAXNESTING=3"]).1;
    assert_eq!(three(3), None);
    assert_eq!(three(4).map(|e| e.message), Some("MAXNESTING exceeded".to_string()));
    assert!(run(&format!("{depth} probe begin {{ d(11) }}")).1.is_some());
}

#[test]
fn overloads_with_next() {
    let out = output(
        r#"function f(n) { if (n < 0) next ; return 1 }
        function f(n) { if (n < -100) next ; return 2 }
        function f(n) { return 3 }
        probe begin { println(f(5), f(-5), f(-500)) }"#,
    );
    assert_eq!(out, "123\n");
    let (_, err) = run("function g(n) { next } probe begin { g(1) }");
    assert_eq!(err.map(|e| e.message), Some("all functions exhausted".to_string()));
    // In a handler, `next` ends it.
    assert_eq!(output("probe begin { print(\"a\") ; if (1) next ; print(\"b\") }"), "a");
}

#[test]
fn try_catch_receives_the_message() {
    let out = output(
        r#"global msg
        function boom() { error("boom from a function") }
        probe begin {
            try { print(1 / 0) } catch (e) { println("caught: ", e) }
            try { boom() ; println("not here") } catch (m) { println("caught: ", m) }
            try { error("plain") } catch { println("caught without a variable") }
            try { error("into a global") } catch (msg) { }
            println(msg)
            try { try { error("inner") } catch (e) { error("rethrown " . e) } } catch (e) { println(e) }
        }"#,
    );
    assert_eq!(
        out,
        "caught: division by 0\ncaught: boom from a function\ncaught without a variable\ninto a global\nrethrown inner\n"
    );
    let (out, err) = run("probe begin { error(\"uncaught\") ; print(\"no\") }");
    assert_eq!((out.as_str(), err.map(|e| e.message)), ("", Some("uncaught".to_string())));
}

#[test]
fn maxaction_stops_an_endless_loop() {
    let (out, err) = run("probe begin { print(\"start\") ; while (1) { x++ } }");
    assert_eq!(out, "start");
    assert_eq!(err.map(|e| e.message), Some("MAXACTION exceeded".to_string()));
    // A loop well under the limit runs to its end.
    assert_eq!(output("probe begin { for (i = 0; i < 200; i++) x += i ; println(x) }"), "19900\n");
    let (_, err, _) = run_with("probe begin { for (i = 0; i < 200; i++) x += i }", &["MAXACTION=100"]);
    assert_eq!(err.map(|e| e.message), Some("MAXACTION exceeded".to_string()));
}

#[test]
fn printf_conversions_and_print_family() {
    let out = output(
        r#"probe begin {
            printf("%d|%5d|%-5d|%05d|%x|%X|%#o|%u|%c|%s|%10s|%-4s|%%|%p\n",
                   42, 42, 42, -42, 255, 255, 8, -1, 65, "str", "right", "l", 0xbc614e)
            printf("%*d|%.2s\n", 4, 7, "abcdef")
            print(1, "a", 2) ; println()
            println("x", 3)
            printd(", ", "a", 1, "b") ; println("")
            printdln("-", 1, 2, 3)
            s = sprintf("%03d", 7) . sprint(8) . sprintln("!") . sprintd(":", "p", "q") . sprintdln("+", 1, 2)
            print(s)
        }"#,
    );
    assert_eq!(
        out,
        "42|   42|42   |-0042|ff|FF|010|18446744073709551615|A|str|     right|l   |%|0x0000000000bc614e\n   \
         7|ab\n1a2\nx3\na, 1, b\n1-2-3\n0078!\np:q1+2\n"
    );
}

#[test]
fn exit_lets_the_handler_finish_and_end_runs() {
    let (out, err, host) = run_with(
        r#"probe begin { println("before") ; exit() ; println("after") }
        probe end { println("end") }"#,
        &[],
    );
    assert_eq!(err, None);
    assert!(host.exited);
    assert_eq!(out, "before\nafter\nend\n");
}

#[test]
fn task_and_string_intrinsics() {
    let out = output(
        r#"probe begin {
            println(pid() == stp_pid(), " ", pid() > 0, " ", strlen(execname()) > 0, " ", pp())
            t = gettimeofday_s() ; println(t > 1600000000, " ", gettimeofday_ms() / 1000 - t < 2)
            println(tokenize("a,b,,c", ","), tokenize("", ","), tokenize("", ","), "[", tokenize("", ","), "]")
            warn("careful")
        }"#,
    );
    assert_eq!(out, "1 1 1 begin\n1 1\nabc[]\n");
    let (_, err) = run("probe begin { print(kernel_string(4096)) }");
    assert_eq!(err.map(|e| e.message), Some("kernel string copy fault at 0x1000 [man error::fault]".to_string()));
    assert_eq!(output("probe begin { println(kernel_string(4096, \"bad\")) }"), "bad\n");
}

/// `user_string_warn` warns with stap's message and returns "", where
/// `user_string` fails.
#[test]
fn user_string_warn_warns_and_goes_on() {
    let (out, err, host) = run_with("probe begin { println(\"[\", user_string_warn(16), \"]\") }", &[]);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out, "[]\n");
    assert_eq!(host.warnings, ["user string copy fault -14 at 0x10 [man error::fault]"]);
    let (_, err) = run("probe begin { println(user_string(16)) }");
    assert_eq!(err.map(|e| e.message), Some("user string copy fault at 0x10 [man error::fault]".to_string()));
}

#[test]
fn unsupported_intrinsics_are_refused_at_compile_time() {
    let err = try_compile("probe begin { println(pid2task(2)) }", &[]).err().expect("refused");
    let d = err.first().expect("one diagnostic");
    assert!(d.message.contains("'pid2task' is not available in user-placed handlers"), "{}", d.message);
    assert!(d.span().is_some(), "the diagnostic points at the call");
}

#[test]
fn timer_handlers_keep_globals_across_runs_and_abort_stops_at_once() {
    let c = compile_with("global n probe timer.ms(100) { n++ ; printf(\"tick %d\\n\", n) }", &[]);
    let mut host = MemHost::new(&c.module, &c.layout);
    let (kind, timer) = c.handlers.first().cloned().expect("one handler");
    assert!(matches!(kind, ProbeKind::Timer { .. }), "{kind:?}");
    for _ in 0..3 {
        assert_eq!(c.jit.run(timer, &mut host), Ok(()));
    }
    assert_eq!(host.text(), "tick 1\ntick 2\ntick 3\n");

    let (out, err, host) =
        run_with("probe begin { print(\"a\") ; try { abort() } catch { print(\"caught\") } ; print(\"b\") }", &[]);
    assert_eq!((out.as_str(), err, host.aborted), ("a", None, true));
}

#[test]
fn variance_and_linear_buckets() {
    let out = output(
        r#"global s
        probe begin {
            s <<< 2 ; s <<< 4 ; s <<< 4 ; s <<< 4 ; s <<< 5 ; s <<< 5 ; s <<< 7 ; s <<< 9
            println(@variance(s), " ", @hist_linear(s, 0, 10, 5)[0], " ", @hist_linear(s, 0, 10, 5)[1], " ",
                    @hist_linear(s, 0, 10, 5)[2], " ", @hist_linear(s, 0, 10, 5)[3])
        }"#,
    );
    // stap's integer Welford update (see `STAT_FIELDS`) gives 5 here,
    // where the exact sample variance is 32/7.
    assert_eq!(out, "5 0 4 4 0\n");
}
