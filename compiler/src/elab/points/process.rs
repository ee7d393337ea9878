//! SystemTap's process life-cycle family (its utrace probes):
//! `process[("PATH"|PID)].begin`, `.end`, `.thread.begin`, `.thread.end`,
//! `.syscall` and `.syscall.return`, built on tracepoints.
//!
//! In: a matched path, `-c`/`-x`. Out: [`ResolvedPoint`]s on the sched
//! and raw syscall tracepoints, each with a [`Guard`]: which event of the
//! tracepoint is meant and which tasks (an executable by device and
//! inode, a process id, or the `-c`/`-x` process tree). Elaboration puts
//! the guard's test before the handler (see [`guard_stmt`]); `$syscall`,
//! `$argN` and `$return` are the raw syscall record's fields
//! ([`syscall_field`]).
//!
//! - `begin`: `sched_process_exec` (a process starts the program), and
//!   the child's return from `clone`/`fork`/`vfork`/`clone3` on
//!   `raw_syscalls:sys_exit` (its first event in its own context) where
//!   the child is a new process. Processes already running when the
//!   script starts are not reported (stap reports them once).
//! - `thread.begin`: the same return, where the child is a thread.
//! - `end`: `sched_process_exit` of the process's last thread;
//!   `thread.end`: of any other thread. With a path, only on kernels
//!   whose tracepoint fires while the task still has its memory map
//!   (those with its `group_dead` field, 6.16 on); refused elsewhere.
//! - `syscall`, `syscall.return`: `raw_syscalls:sys_enter`/`sys_exit`.

use std::os::unix::fs::MetadataExt;

use super::grammar::{MatchedPath, quote};
use super::{PointContext, ProbeKind, ResolvedPoint};
use crate::diag::Diagnostic;
use crate::kernel::{TpField, Tracepoint};
use crate::parse::ast::{Block, Expr, ExprKind, Ident, Literal, Stmt, StmtKind, Target, TargetBase, UnaryOp};
use crate::source::Span;
use crate::userspace::find_executable;

/// The event a life-cycle point's tracepoint hit stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifeEvent {
    /// `sched_process_exec`.
    Exec,
    /// A new process's return from fork (`raw_syscalls:sys_exit`).
    ForkedProcess,
    /// A new thread's return from clone.
    ForkedThread,
    /// The last thread of a process exits.
    ProcessExit,
    /// Another thread exits.
    ThreadExit,
    Syscall,
    SyscallReturn,
}

impl LifeEvent {
    /// The number the tapset's `__stp_proc_guard` knows it by.
    fn code(self) -> i64 {
        match self {
            LifeEvent::Exec => 0,
            LifeEvent::ForkedProcess => 1,
            LifeEvent::ForkedThread => 2,
            LifeEvent::ProcessExit => 3,
            LifeEvent::ThreadExit => 4,
            LifeEvent::Syscall => 5,
            LifeEvent::SyscallReturn => 6,
        }
    }

    fn tracepoint(self) -> Tracepoint {
        let (system, name) = match self {
            LifeEvent::Exec => ("sched", "sched_process_exec"),
            LifeEvent::ProcessExit | LifeEvent::ThreadExit => ("sched", "sched_process_exit"),
            LifeEvent::Syscall => ("raw_syscalls", "sys_enter"),
            LifeEvent::ForkedProcess | LifeEvent::ForkedThread | LifeEvent::SyscallReturn => {
                ("raw_syscalls", "sys_exit")
            }
        };
        Tracepoint { system: system.to_string(), name: name.to_string() }
    }

    /// Whether the guard reads the syscall number and return value.
    fn reads_syscall(self) -> bool {
        matches!(self, LifeEvent::ForkedProcess | LifeEvent::ForkedThread)
    }
}

/// Which tasks a life-cycle point reports, and for which event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Guard {
    pub event: LifeEvent,
    /// The executable: its device (the kernel's `dev_t` encoding) and inode.
    pub exe: Option<(u64, u64)>,
    /// `process(PID)`: the process id.
    pub pid: Option<u32>,
    /// `process.*` under `-c`/`-x`: the target process and its descendants.
    pub tree: bool,
    /// The exit tracepoint says whether the thread group died with it
    /// (its `group_dead` field); else the guard reads the group's count
    /// of live threads, which other threads' exits may have changed by
    /// then.
    pub group_dead: bool,
}

/// Names the guard's own reads of the syscall record go by: no script can
/// write them, so a user's `$return` in `process.begin` is still refused.
const NR: &str = " nr";
const RET: &str = " ret";
const DEAD: &str = " dead";

/// The kernel's `dev_t` (major << 20 | minor) of a device number as
/// `stat` gives it (glibc's encoding).
fn kernel_dev(dev: u64) -> u64 {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major << 20) | minor
}

pub(super) fn lifecycle(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let span = path.span("process");
    let mut guard = Guard { event: LifeEvent::Exec, exe: None, pid: None, tree: false, group_dead: false };
    let shown = match path.step("process").and_then(|s| s.arg) {
        Some(Literal::Number(n)) => {
            let pid = u32::try_from(*n)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| Diagnostic::semantic_error(format!("invalid process id {n}"), span))?;
            guard.pid = Some(pid);
            format!("process({pid})")
        }
        Some(Literal::String(s)) => {
            let name = String::from_utf8_lossy(s).into_owned();
            let found = find_executable(&name).ok_or_else(|| {
                Diagnostic::semantic_error(format!("cannot find executable '{name}'"), span)
                    .with_help("give an absolute path, or a command found in $PATH")
            })?;
            let meta = std::fs::metadata(&found).map_err(|e| {
                Diagnostic::semantic_error(format!("cannot read executable '{}': {e}", found.display()), span)
            })?;
            guard.exe = Some((kernel_dev(meta.dev()), meta.ino()));
            format!("process({})", quote(&found.display().to_string()))
        }
        None => {
            guard.tree = ctx.command.is_some() || ctx.target_pid.is_some();
            "process".to_string()
        }
    };
    let thread = path.has("thread");
    let (suffix, events): (&str, &[LifeEvent]) = if path.has("syscall") {
        if path.has("return") {
            ("syscall.return", &[LifeEvent::SyscallReturn])
        } else {
            ("syscall", &[LifeEvent::Syscall])
        }
    } else if path.has("begin") {
        if thread {
            ("thread.begin", &[LifeEvent::ForkedThread])
        } else {
            ("begin", &[LifeEvent::Exec, LifeEvent::ForkedProcess])
        }
    } else if thread {
        ("thread.end", &[LifeEvent::ThreadExit])
    } else {
        ("end", &[LifeEvent::ProcessExit])
    };
    let name = format!("{shown}.{suffix}");
    let mut out = Vec::new();
    for &event in events {
        let tp = event.tracepoint();
        if ctx.kernel.match_tracepoints(&format!("{}:{}", tp.system, tp.name)).map(|l| l.is_empty()).unwrap_or(true) {
            return Err(Diagnostic::semantic_error(
                format!("{name} needs the tracepoint {}:{}, which this kernel does not have", tp.system, tp.name),
                span,
            ));
        }
        // The kernel that added `group_dead` to sched_process_exit also
        // moved it before the task lets go of its memory map: before
        // that, the executable is gone when it fires.
        let exit = matches!(event, LifeEvent::ProcessExit | LifeEvent::ThreadExit);
        let group_dead =
            exit && ctx.kernel.tracepoint_fields(&tp).is_ok_and(|f| f.iter().any(|f| f.name == "group_dead"));
        if exit && guard.exe.is_some() && !group_dead {
            return Err(Diagnostic::semantic_error(
                format!("{name} is not supported on this kernel: its sched_process_exit fires after the task has let go of its executable"),
                span,
            )
            .with_help("use process(PID).end, or process.end with a test of execname()"));
        }
        out.push(ResolvedPoint {
            kind: ProbeKind::Tracepoint { tp },
            name: name.clone(),
            guard: Some(Guard { event, group_dead, ..guard.clone() }),
        });
    }
    Ok(out)
}

fn num(n: i64) -> Expr {
    Expr::new(ExprKind::Number(n), Span::DUMMY)
}

fn field(name: &str) -> Expr {
    Expr::new(ExprKind::Target(Box::new(Target::bare(TargetBase::Var(name.to_string())))), Span::DUMMY)
}

/// The tapset function a guarded point's handler calls first.
pub const GUARD_FUNCTION: &str = "__stp_proc_guard";

/// `if (!__stp_proc_guard(...)) next`: the test a guarded point's handler
/// starts with.
pub fn guard_stmt(g: &Guard) -> Stmt {
    let (dev, ino) = g.exe.unwrap_or((0, 0));
    let as_long = |v: u64| i64::try_from(v).unwrap_or(-1);
    let (nr, ret) = if g.event.reads_syscall() {
        (field(NR), field(RET))
    } else if g.group_dead {
        (num(1), field(DEAD))
    } else {
        (num(0), num(0))
    };
    let args = vec![
        num(g.event.code()),
        num(as_long(dev)),
        num(as_long(ino)),
        num(i64::from(g.pid.unwrap_or(0))),
        num(i64::from(g.tree)),
        nr,
        ret,
    ];
    let call = Expr::new(
        ExprKind::Call { name: Ident { name: GUARD_FUNCTION.to_string(), span: Span::DUMMY }, args },
        Span::DUMMY,
    );
    let cond = Expr::new(ExprKind::Unary { op: UnaryOp::Not, operand: Box::new(call) }, Span::DUMMY);
    let next = Stmt { kind: StmtKind::Next, span: Span::DUMMY };
    Stmt { kind: StmtKind::If { cond, then: Box::new(next), otherwise: None }, span: Span::DUMMY }
}

/// A guarded body: the guard's test, then the body.
pub fn guarded(g: &Guard, body: Block) -> Block {
    let span = body.span;
    Block { stmts: vec![guard_stmt(g), Stmt { span, kind: StmtKind::Block(body) }], span }
}

/// The record field a `$name` of a life-cycle point reads: `$syscall`,
/// `$arg1`..`$arg6` (`.syscall`) and `$return` (`.syscall.return`) as
/// stap offers them, from the raw syscall record's `id`, `args` and
/// `ret`.
pub fn syscall_field(fields: &[TpField], g: &Guard, name: &str, span: Span) -> Result<TpField, Diagnostic> {
    let find = |n: &str| fields.iter().find(|f| f.name == n).cloned();
    let long = |name: &str, offset: u32| TpField {
        name: name.to_string(),
        c_type: "long".to_string(),
        offset,
        size: 8,
        signed: true,
        data_loc: false,
        array_len: None,
    };
    let found = match (g.event, name) {
        (_, NR) | (LifeEvent::Syscall | LifeEvent::SyscallReturn, "syscall") => {
            find("id").map(|f| long(name, f.offset))
        }
        (_, RET) | (LifeEvent::SyscallReturn, "return") => find("ret").map(|f| long(name, f.offset)),
        (_, DEAD) => find("group_dead"),
        (LifeEvent::Syscall, _) => name
            .strip_prefix("arg")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=6).contains(n))
            .and_then(|n| find("args").map(|f| long(name, f.offset + 8 * (n - 1)))),
        _ => None,
    };
    found.ok_or_else(|| {
        let offered = match g.event {
            LifeEvent::Syscall => "$syscall and $arg1 to $arg6",
            LifeEvent::SyscallReturn => "$syscall and $return",
            _ => "no target variables",
        };
        Diagnostic::semantic_error(format!("unable to find target variable '${name}' in a process probe"), span)
            .with_note(format!("this probe point offers {offered}"))
    })
}

/// `-L`'s list for a life-cycle point.
pub fn context_vars(g: &Guard) -> Vec<(String, String)> {
    let long = |n: &str| (n.to_string(), "long".to_string());
    match g.event {
        LifeEvent::Syscall => {
            let mut v = vec![long("syscall")];
            v.extend((1..=6).map(|n| long(&format!("arg{n}"))));
            v
        }
        LifeEvent::SyscallReturn => vec![long("syscall"), long("return")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testing::resolve_with;
    use super::*;
    use crate::kernel::Kernel;

    fn snapshot() -> Kernel {
        Kernel::snapshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel"))
    }

    fn ok(text: &str) -> Vec<ResolvedPoint> {
        resolve_with(text, &snapshot(), false).expect(text)
    }

    fn err(text: &str) -> Diagnostic {
        resolve_with(text, &snapshot(), false).expect_err(text)
    }

    #[test]
    fn device_numbers_in_the_kernel_encoding() {
        // glibc's makedev().
        let makedev = |major: u64, minor: u64| {
            ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
        };
        assert_eq!(makedev(254, 0), 0xfe00);
        for (major, minor) in [(254, 0), (8, 1), (0x1000, 0x12345), (259, 300)] {
            assert_eq!(kernel_dev(makedev(major, minor)), (major << 20) | minor, "{major}:{minor}");
        }
    }

    #[test]
    fn points_and_guards() {
        let exe = std::env::current_exe().expect("current_exe");
        let exe = exe.canonicalize().unwrap_or(exe);
        let meta = std::fs::metadata(&exe).expect("stat");
        let shown = quote(&exe.display().to_string());
        let r = ok(&format!("process({shown}).begin"));
        let names: Vec<(&str, String)> = r
            .iter()
            .map(|p| match &p.kind {
                ProbeKind::Tracepoint { tp } => (p.name.as_str(), format!("{}:{}", tp.system, tp.name)),
                other => (p.name.as_str(), format!("{other:?}")),
            })
            .collect();
        let want = format!("process({shown}).begin");
        assert_eq!(
            names,
            [(want.as_str(), "sched:sched_process_exec".to_string()), (want.as_str(), "raw_syscalls:sys_exit".into())]
        );
        assert_eq!(
            r.first().and_then(|p| p.guard.as_ref()).and_then(|g| g.exe),
            Some((kernel_dev(meta.dev()), meta.ino()))
        );
        let r = ok("process(1234).syscall.return");
        let g = r.first().and_then(|p| p.guard.clone()).expect("guard");
        assert_eq!((g.event, g.pid, g.exe, g.tree), (LifeEvent::SyscallReturn, Some(1234), None, false));
        assert_eq!(r.first().map(|p| p.name.as_str()), Some("process(1234).syscall.return"));
        for (text, event) in [
            ("process.thread.begin", LifeEvent::ForkedThread),
            ("process.thread.end", LifeEvent::ThreadExit),
            ("process.end", LifeEvent::ProcessExit),
            ("process.syscall", LifeEvent::Syscall),
        ] {
            let r = ok(text);
            assert_eq!(r.len(), 1, "{text}");
            assert_eq!(r.first().and_then(|p| p.guard.as_ref()).map(|g| g.event), Some(event), "{text}");
            assert_eq!(r.first().map(|p| p.name.as_str()), Some(text));
        }
        assert_eq!(err("process(0).begin").message, "semantic error: invalid process id 0");
        assert!(err("process(\"/no/such/prog\").end").message.contains("cannot find executable"));
    }

    #[test]
    fn syscall_variables() {
        let fields = vec![
            TpField {
                name: "id".into(),
                c_type: "long".into(),
                offset: 8,
                size: 8,
                signed: true,
                data_loc: false,
                array_len: None,
            },
            TpField {
                name: "args".into(),
                c_type: "unsigned long[6]".into(),
                offset: 16,
                size: 48,
                signed: false,
                data_loc: false,
                array_len: Some(6),
            },
        ];
        let g = Guard { event: LifeEvent::Syscall, exe: None, pid: None, tree: false, group_dead: false };
        let at = |n: &str| syscall_field(&fields, &g, n, Span::DUMMY).map(|f| (f.offset, f.size, f.signed));
        assert_eq!(at("syscall").ok(), Some((8, 8, true)));
        assert_eq!(at("arg1").ok(), Some((16, 8, true)));
        assert_eq!(at("arg6").ok(), Some((56, 8, true)));
        assert!(at("arg7").is_err());
        assert!(at("arg0").is_err());
        let d = at("return").expect_err("no $return at entry");
        assert_eq!(d.message, "semantic error: unable to find target variable '$return' in a process probe");
        let g = Guard { event: LifeEvent::ForkedProcess, ..g };
        assert!(syscall_field(&fields, &g, "syscall", Span::DUMMY).is_err());
        assert!(syscall_field(&fields, &g, NR, Span::DUMMY).is_ok());
    }
}
