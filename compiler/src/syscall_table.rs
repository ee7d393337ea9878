//! The syscall tapset's table (`stdlib/linux/syscalls.tsv`) and what is
//! generated from it: the probe aliases `syscall.NAME` and
//! `syscall.NAME.return` with their synonyms (`nd_syscall`, `nd1_syscall`,
//! `nd2_syscall`, `tp_syscall`, `dw_syscall`), `syscall_any` with
//! `syscall_name()` and `syscall_num()`, and the reference page
//! `docs/syscalls.md`.
//!
//! build.rs includes this file to write the tapset text that is embedded
//! as `linux/syscalls.stp`, so the library's lazy loading and `-L`,
//! `--dump-probe-aliases` all see the aliases as ordinary tapset code. Every
//! alias is on the per-syscall tracepoints `syscalls:sys_enter_NAME` and
//! `syscalls:sys_exit_NAME` and reads their format fields (`$FIELD`,
//! `$ret`), so that a probe over many of them can be compiled to one
//! program on the raw syscall tracepoints that dispatches on the number.
//!
//! The table's format is described at its top. Parsing never panics: a
//! malformed line is an error naming the line.

use std::fmt::Write;

/// The spellings of the syscall family that are synonyms of `syscall`.
pub const SYNONYMS: &[&str] = &["nd_syscall", "nd1_syscall", "nd2_syscall", "tp_syscall", "dw_syscall"];

/// How an argument is read from its field and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `int`: the low 32 bits, signed; `%d`.
    Int,
    /// `unsigned int`; `%u`.
    Uint,
    /// `long`; `%d`.
    Long,
    /// `unsigned long`; `%u`.
    Ulong,
    /// An unsigned int in octal, `%#o`.
    Octal,
    /// A long in hex, `%#x`.
    Hex,
    /// A pointer, `%p`.
    Pointer,
    /// A string in user memory, quoted.
    Str,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "d" => Kind::Int,
            "u" => Kind::Uint,
            "D" => Kind::Long,
            "U" => Kind::Ulong,
            "o" => Kind::Octal,
            "x" => Kind::Hex,
            "p" => Kind::Pointer,
            "s" => Kind::Str,
            _ => return None,
        })
    }

    /// The script expression of the value from `$field`.
    fn value(self, field: &str) -> String {
        match self {
            Kind::Int => format!("__int32(${field})"),
            Kind::Uint | Kind::Octal => format!("__uint32(${field})"),
            Kind::Str => format!("user_string_quoted(${field})"),
            Kind::Long | Kind::Ulong | Kind::Hex | Kind::Pointer => format!("${field}"),
        }
    }

    fn format(self) -> &'static str {
        match self {
            Kind::Int | Kind::Long => "%d",
            Kind::Uint | Kind::Ulong => "%u",
            Kind::Octal => "%#o",
            Kind::Hex => "%#x",
            // stap prints %p as %#x (0x0 for NULL) since 1.3.
            Kind::Pointer => "0x%x",
            Kind::Str => "%s",
        }
    }

    /// The type `-L` shows.
    pub fn type_name(self) -> &'static str {
        if self == Kind::Str { "string" } else { "long" }
    }
}

/// One argument of a system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub var: String,
    pub field: String,
    pub kind: Kind,
    /// `(decoder function, the variable holding its text)`.
    pub decoder: Option<(String, String)>,
    /// Whether the default argstr shows it.
    pub shown: bool,
}

/// How retstr shows the return value (`return_str`'s format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Decimal,
    Hex,
    Octal,
}

impl Ret {
    fn format(self) -> u8 {
        match self {
            Ret::Decimal => 1,
            Ret::Hex => 2,
            Ret::Octal => 3,
        }
    }
}

/// One system call of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// stap's name of the call (`stat`).
    pub name: String,
    /// The name of its tracepoints (`newstat`: `syscalls:sys_enter_newstat`).
    pub tracepoint: String,
    /// The x86_64 number, if it has one.
    pub nr: Option<u32>,
    /// The kernel's name of the number (`syscall_name()`), where it
    /// differs from `name` (`umount2` for `umount`).
    pub kernel_name: Option<String>,
    pub ret: Ret,
    /// The function of `retval` that makes retstr, where `ret`'s
    /// `return_str` format does not (`_adjtimex_return_str`).
    pub ret_fn: Option<String>,
    /// Further variables of the return probe: (name, script expression).
    pub ret_extras: Vec<(String, String)>,
    pub args: Vec<Arg>,
    /// Further variables: (name, script expression).
    pub extras: Vec<(String, String)>,
    /// The script expression of argstr, when the default does not fit.
    pub argstr: Option<String>,
}

fn parse_arg(tok: &str) -> Option<Arg> {
    let (tok, shown) = match tok.strip_suffix('+') {
        Some(t) => (t, false),
        None => (tok, true),
    };
    let mut parts = tok.split(':');
    let var = parts.next()?.to_string();
    let field = parts.next()?.to_string();
    let kind = Kind::parse(parts.next()?)?;
    let decoder = match (parts.next(), parts.next()) {
        (Some(f), Some(v)) => Some((f.to_string(), v.to_string())),
        (None, None) => None,
        _ => return None,
    };
    if parts.next().is_some() || var.is_empty() || field.is_empty() {
        return None;
    }
    Some(Arg { var, field, kind, decoder, shown })
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses the table; an error names the line.
pub fn parse(text: &str) -> Result<Vec<Syscall>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("syscalls.tsv:{}: {what}", i + 1);
        let mut cols = line.split('\t');
        let names = cols.next().filter(|n| !n.is_empty()).ok_or_else(|| bad("no name"))?;
        let (name, tracepoint) = names.split_once('=').unwrap_or((names, names));
        let (name, tracepoint) = (name.to_string(), tracepoint.to_string());
        let (nr, kernel_name) = match cols.next().map(|n| n.split_once('=').unwrap_or((n, ""))) {
            Some(("-1", "")) => (None, None),
            Some((n, k)) => {
                (Some(n.parse::<u32>().map_err(|_| bad("bad number"))?), Some(k.to_string()).filter(|k| !k.is_empty()))
            }
            None => return Err(bad("no number")),
        };
        let (ret, ret_fn) = match cols.next().map(|r| r.split_once(':').map_or((r, None), |(r, f)| (r, Some(f)))) {
            Some((r, f)) if f.is_none_or(is_ident) => (
                match r {
                    "d" => Ret::Decimal,
                    "x" => Ret::Hex,
                    "o" => Ret::Octal,
                    _ => return Err(bad("bad return kind")),
                },
                f.map(str::to_string),
            ),
            _ => return Err(bad("bad return kind")),
        };
        let mut args = Vec::new();
        let mut extras = Vec::new();
        for tok in cols.next().unwrap_or("").split_whitespace() {
            if let Some(extra) = tok.strip_prefix('+') {
                let (v, e) = extra.split_once('=').ok_or_else(|| bad("bad extra variable"))?;
                extras.push((v.to_string(), e.to_string()));
            } else {
                args.push(parse_arg(tok).ok_or_else(|| bad(&format!("bad argument '{tok}'")))?);
            }
        }
        let argstr = cols.next().filter(|s| !s.trim().is_empty()).map(str::to_string);
        let mut ret_extras = Vec::new();
        for tok in cols.next().unwrap_or("").split_whitespace() {
            let extra = tok.strip_prefix('+').and_then(|e| e.split_once('='));
            let (v, e) = extra.ok_or_else(|| bad(&format!("bad return variable '{tok}'")))?;
            ret_extras.push((v.to_string(), e.to_string()));
        }
        if cols.next().is_some() {
            return Err(bad("too many columns"));
        }
        out.push(Syscall { name, tracepoint, nr, kernel_name, ret, ret_fn, ret_extras, args, extras, argstr });
    }
    Ok(out)
}

impl Syscall {
    /// The entry probe's variables with their types, as `-L` lists them.
    pub fn variables(&self) -> Vec<(String, &'static str)> {
        let mut v = vec![("name".to_string(), "string")];
        for a in &self.args {
            v.push((a.var.clone(), a.kind.type_name()));
            if let Some((_, s)) = &a.decoder {
                v.push((s.clone(), "string"));
            }
        }
        for (e, expr) in &self.extras {
            // Extras are strings but for the few helpers that read numbers.
            v.push((e.clone(), if expr.starts_with("__pipe_fd(") { "long" } else { "string" }));
        }
        v.push(("argstr".to_string(), "string"));
        v
    }

    /// The default argstr expression.
    fn default_argstr(&self) -> String {
        let shown: Vec<&Arg> = self.args.iter().filter(|a| a.shown).collect();
        if shown.is_empty() {
            return "\"\"".to_string();
        }
        let formats: Vec<&str> =
            shown.iter().map(|a| if a.decoder.is_some() { "%s" } else { a.kind.format() }).collect();
        let values: Vec<&str> =
            shown.iter().map(|a| a.decoder.as_ref().map_or(a.var.as_str(), |(_, s)| s.as_str())).collect();
        format!("sprintf(\"{}\", {})", formats.join(", "), values.join(", "))
    }
}

/// The tapset text of the whole table: the aliases of every call, and
/// `syscall_any`.
pub fn tapset(calls: &[Syscall]) -> String {
    let mut s = String::from(
        "// System call probes, generated from stdlib/linux/syscalls.tsv by\n\
         // compiler/src/syscall_table.rs. syscall.NAME fires on entry with the\n\
         // call's arguments, `name` and `argstr`; syscall.NAME.return on exit\n\
         // with `name`, `retval` and `retstr`.\n\n",
    );
    s.push_str(&aliases(calls));
    s.push_str(&any(calls));
    s
}

/// The syscall tapset in parts, so that a script parses only those of the
/// calls it names: `(name, text)`, one part a call (`NAME.stp`, its
/// aliases and their synonyms) and `any.stp` (`syscall_any`).
pub fn tapset_parts(calls: &[Syscall]) -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> =
        calls.iter().map(|c| (format!("{}.stp", c.name), aliases(std::slice::from_ref(c)))).collect();
    parts.push(("any.stp".to_string(), any(calls)));
    parts
}

/// The probe aliases of these calls, with their synonyms.
pub fn aliases(calls: &[Syscall]) -> String {
    let mut s = String::new();
    for c in calls {
        let (n, tp) = (&c.name, &c.tracepoint);
        let _ = writeln!(s, "probe syscall.{n} = kernel.trace(\"syscalls:sys_enter_{tp}\") {{");
        let _ = writeln!(s, "  name = \"{n}\"");
        for a in &c.args {
            let _ = writeln!(s, "  {} = {}", a.var, a.kind.value(&a.field));
            if let Some((f, v)) = &a.decoder {
                let _ = writeln!(s, "  {v} = {f}({})", a.var);
            }
        }
        for (v, e) in &c.extras {
            let _ = writeln!(s, "  {v} = {e}");
        }
        let argstr = c.argstr.clone().unwrap_or_else(|| c.default_argstr());
        let _ = writeln!(s, "  argstr = {argstr}\n}}");
        let _ = writeln!(s, "probe syscall.{n}.return = kernel.trace(\"syscalls:sys_exit_{tp}\") {{");
        let _ = writeln!(s, "  name = \"{n}\"\n  retval = $ret");
        match &c.ret_fn {
            Some(f) => _ = writeln!(s, "  retstr = {f}(retval)"),
            None => _ = writeln!(s, "  retstr = return_str({}, retval)", c.ret.format()),
        }
        for (v, e) in &c.ret_extras {
            let _ = writeln!(s, "  {v} = {e}");
        }
        s.push_str("}\n");
        for syn in SYNONYMS {
            let _ = writeln!(s, "probe {syn}.{n} = syscall.{n} {{ }}");
            let _ = writeln!(s, "probe {syn}.{n}.return = syscall.{n}.return {{ }}");
        }
    }
    s
}

/// `syscall_any`, `syscall_name()` and `syscall_num()`, from the calls'
/// numbers and the kernel's names of them.
fn any(calls: &[Syscall]) -> String {
    let mut s = String::new();
    // Any system call, on the raw syscall tracepoints.
    s.push_str(
        "\nprobe syscall_any = kernel.trace(\"raw_syscalls:sys_enter\") {\n  syscall_nr = $id\n  \
         name = syscall_name(syscall_nr)\n}\n\
         probe syscall_any.return = kernel.trace(\"raw_syscalls:sys_exit\") {\n  syscall_nr = $regs->orig_ax\n  \
         name = syscall_name(syscall_nr)\n  retval = $ret\n}\n",
    );
    let mut numbered: Vec<(u32, &str)> =
        calls.iter().filter_map(|c| Some((c.nr?, c.kernel_name.as_deref().unwrap_or(&c.name)))).collect();
    numbered.sort_unstable();
    s.push_str(
        "\n/** The kernel's name of x86_64 system call number nr (mmap, umount2), or \"\" for none. */\n\
         function syscall_name:string (nr:long) {\n",
    );
    name_tree(&mut s, &numbered, "  ");
    s.push_str("  return \"\"\n}\n");
    let mut named: Vec<(&str, u32)> = numbered.iter().map(|&(nr, name)| (name, nr)).collect();
    named.sort_unstable();
    s.push_str(
        "\n/** The x86_64 number of the system call the kernel names name, or -1 for none. */\n\
         function syscall_num:long (name:string) {\n",
    );
    num_tree(&mut s, &named, "  ");
    s.push_str("  return -1\n}\n");
    s
}

/// A binary tree of comparisons, so that a lookup takes a few branches.
fn name_tree(s: &mut String, items: &[(u32, &str)], indent: &str) {
    if items.len() <= 8 {
        for (nr, name) in items {
            let _ = writeln!(s, "{indent}if (nr == {nr}) return \"{name}\"");
        }
        return;
    }
    let (lo, hi) = items.split_at(items.len() / 2);
    let Some((mid, _)) = hi.first() else { return };
    let _ = writeln!(s, "{indent}if (nr < {mid}) {{");
    name_tree(s, lo, &format!("{indent}  "));
    let _ = writeln!(s, "{indent}  return \"\"\n{indent}}}");
    name_tree(s, hi, indent);
}

/// The same over names, for `syscall_num()`.
fn num_tree(s: &mut String, items: &[(&str, u32)], indent: &str) {
    if items.len() <= 8 {
        for (name, nr) in items {
            let _ = writeln!(s, "{indent}if (name == \"{name}\") return {nr}");
        }
        return;
    }
    let (lo, hi) = items.split_at(items.len() / 2);
    let Some((mid, _)) = hi.first() else { return };
    let _ = writeln!(s, "{indent}if (name < \"{mid}\") {{");
    num_tree(s, lo, &format!("{indent}  "));
    let _ = writeln!(s, "{indent}  return -1\n{indent}}}");
    num_tree(s, hi, indent);
}

/// The reference page: every system call with its variables and argstr.
pub fn docs(calls: &[Syscall]) -> String {
    let mut s = String::from(
        "# System call probes\n\n\
         Generated from `stdlib/linux/syscalls.tsv` (run `STP_UPDATE_DOCS=1 cargo test -p stp-compiler --lib \
         syscall_docs`); do not edit.\n\n\
         Each `syscall.NAME` fires on entry to the system call, on the tracepoint \
         `syscalls:sys_enter_NAME`, with `name`, the variables below and `argstr`; \
         `syscall.NAME.return` fires on `syscalls:sys_exit_NAME` with `name`, `retval` and \
         `retstr` (`3`, `-2 (ENOENT)`, or hex for calls returning addresses). \
         `nd_syscall`, `nd1_syscall`, `nd2_syscall`, `tp_syscall` and `dw_syscall` are synonyms. \
         `syscall_any` and `syscall_any.return` fire for every system call with `name`, \
         `syscall_nr` (and `retval`); `syscall_name(nr)` is the kernel's name of a number, \
         `syscall_num(name)` the number of a name.\n\n\
         | syscall | tracepoints | nr | variables (from the tracepoint's fields) | retstr (and return variables) |\n\
         |---|---|---|---|---|\n",
    );
    for c in calls {
        let vars: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                let mut v = format!("`{}` ({}, `${}`)", a.var, a.kind.type_name(), a.field);
                if let Some((f, sv)) = &a.decoder {
                    let _ = write!(v, ", `{sv}` = `{f}()`");
                }
                v
            })
            .chain(c.extras.iter().map(|(v, e)| format!("`{v}` = `{e}`")))
            .collect();
        let nr = match (c.nr, &c.kernel_name) {
            (Some(n), Some(k)) => format!("{n} (`{k}`)"),
            (Some(n), None) => n.to_string(),
            (None, _) => "-".to_string(),
        };
        let mut ret = match (&c.ret_fn, c.ret) {
            (Some(f), _) => format!("`{f}(retval)`"),
            (None, Ret::Decimal) => "decimal".to_string(),
            (None, Ret::Hex) => "hex".to_string(),
            (None, Ret::Octal) => "octal".to_string(),
        };
        for (v, e) in &c.ret_extras {
            let _ = write!(ret, ", `{v}` = `{e}`");
        }
        let _ = writeln!(s, "| {} | `{}` | {nr} | {} | {ret} |", c.name, c.tracepoint, vars.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<Syscall> {
        parse(include_str!("../../stdlib/linux/syscalls.tsv")).expect("the table parses")
    }

    #[test]
    fn the_table_parses_and_names_each_call_once() {
        let calls = table();
        assert!(calls.len() > 300, "{}", calls.len());
        let mut names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "a syscall appears twice");
        let openat = calls.iter().find(|c| c.name == "openat").expect("openat");
        let vars: Vec<String> = openat.variables().into_iter().map(|(v, _)| v).collect();
        assert_eq!(
            vars,
            ["name", "dfd", "dfd_str", "filename", "flags", "flags_str", "mode", "filename_unquoted", "argstr"]
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("x\t1\tq\t").is_err());
        assert!(parse("x\tone\td\t").is_err());
        assert!(parse("x\t1\td\tfd:fd:z").is_err());
        assert!(parse("x\t1\td\tfd:fd:d:_f").is_err());
        assert_eq!(parse("# c\n\nx\t-1\td").map(|v| v.len()), Ok(1));
        let stat = parse("stat=newstat\t4\td\tpath:filename:s").expect("parses");
        assert_eq!(stat.first().map(|c| (c.name.as_str(), c.tracepoint.as_str())), Some(("stat", "newstat")));
        let umount = parse("umount\t166=umount2\td:_f\tflags:flags:d\t\t+x=@entry(int_arg(2)) +y=1").expect("parses");
        let text = tapset(&umount);
        assert!(text.contains("if (nr == 166) return \"umount2\""), "{text}");
        assert!(text.contains("retstr = _f(retval)\n  x = @entry(int_arg(2))\n  y = 1\n}"), "{text}");
        assert!(parse("x\t1\td:\t").is_err());
        assert!(parse("x\t1\td\t\t\ty=1").is_err());
        assert!(tapset(&stat).contains("probe syscall.stat = kernel.trace(\"syscalls:sys_enter_newstat\")"));
    }

    #[test]
    fn default_argstr_follows_the_arguments() {
        let calls = parse(
            "read\t0\td\tfd:fd:d buf_uaddr:buf:p count:count:U\nkill\t62\td\tpid:pid:d sig:sig:d:_signal_name:sig_name",
        )
        .expect("parses");
        let text = tapset(&calls);
        assert!(text.contains("argstr = sprintf(\"%d, 0x%x, %u\", fd, buf_uaddr, count)"), "{text}");
        assert!(text.contains("sig_name = _signal_name(sig)"), "{text}");
        assert!(text.contains("argstr = sprintf(\"%d, %s\", pid, sig_name)"), "{text}");
        assert!(text.contains("probe nd_syscall.kill.return = syscall.kill.return { }"), "{text}");
        assert!(text.contains("if (nr == 62) return \"kill\""), "{text}");
        assert!(text.contains("if (name == \"kill\") return 62"), "{text}");
    }

    /// docs/syscalls.md is what the table generates.
    #[test]
    fn syscall_docs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/syscalls.md");
        let want = docs(&table());
        if std::env::var_os("STP_UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).expect("docs/ is writable");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/syscalls.md is stale: run STP_UPDATE_DOCS=1 cargo test -p stp-compiler --lib syscall_docs"
        );
    }
}
