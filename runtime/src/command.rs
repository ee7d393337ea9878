//! Checks of the `-c` command and the `-x` process made before a run
//! starts, so that a command that cannot run or a process that does not
//! exist is an error naming it, not a session that begins, ends at once
//! and exits with status 0; and the command itself ([`Child`]), held
//! stopped until the probes are attached.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Words the shell runs itself, which no `PATH` search finds.
const BUILTINS: &[&str] = &[
    ":", ".", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "false", "fg",
    "getopts", "hash", "jobs", "kill", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times",
    "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait", "echo", "[",
];

/// The program a simple command runs: its first word, where the shell
/// would take it literally (no quotes, expansions or assignments).
fn program(cmd: &str) -> Option<&str> {
    let word = cmd.split_whitespace().next()?;
    let plain = word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,@%".contains(c));
    (plain && !word.contains('=')).then_some(word)
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why `-c CMD` cannot run, when its program can be told not to exist
/// or not to be executable; `None` when it may run (or it cannot be told
/// before the shell runs it).
pub fn command_problem(cmd: &str) -> Option<String> {
    let Some(word) = program(cmd) else {
        return cmd.trim().is_empty().then(|| "the -c command is empty".to_string());
    };
    if BUILTINS.contains(&word) {
        return None;
    }
    if word.contains('/') {
        let path = Path::new(word);
        return match std::fs::metadata(path) {
            Err(e) => Some(format!("cannot run the -c command '{cmd}': {word}: {e}")),
            Ok(_) if !executable(path) => Some(format!("cannot run the -c command '{cmd}': {word} is not executable")),
            Ok(_) => None,
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    if std::env::split_paths(&path).any(|d| executable(&d.join(word))) {
        return None;
    }
    Some(format!("cannot run the -c command '{cmd}': {word}: command not found"))
}

/// Whether process `pid` exists.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_are_told_from_runnable_ones() {
        assert!(command_problem("ls -l").is_none());
        assert!(command_problem("/bin/sh -c 'exit 0'").is_none());
        assert!(command_problem("true").is_none());
        assert!(command_problem("x=1 nosuch").is_none(), "an assignment is left to the shell");
        let e = command_problem("no_such_program_stp --x").unwrap_or_default();
        assert!(e.contains("no_such_program_stp: command not found"), "{e}");
        let e = command_problem("/nonexistent/prog").unwrap_or_default();
        assert!(e.contains("/nonexistent/prog: No such file or directory"), "{e}");
        assert!(command_problem("/proc/self/status").is_some_and(|e| e.contains("is not executable")));
    }

    #[test]
    fn this_process_exists_and_a_reaped_one_does_not() {
        assert!(process_exists(std::process::id()));
        let child = std::process::Command::new("true").spawn().ok();
        if let Some(mut c) = child {
            let pid = c.id();
            let _ = c.wait();
            assert!(!process_exists(pid));
        }
    }
}

/// The `-c` command: started before the probes are attached (so that
/// `target()` knows its pid), held stopped until they are.
pub(crate) struct Child {
    pub(crate) pid: i32,
    held: bool,
    status: Option<i32>,
}

impl Child {
    /// `stdout_to_stderr`: the command writes its stdout on stp's stderr
    /// (under `--format json` without `-o`, where stp's stdout is the
    /// JSON stream).
    pub(crate) fn spawn(cmd: &str, stdout_to_stderr: bool) -> Result<Child, crate::run::Failure> {
        // The shell stops itself, then becomes the command: its pid is
        // the command's (target()). A list (`a; b`, `a && b`, `a | b`)
        // runs in a shell of its own to its end, as under stap's
        // `/bin/sh -c`, which has the same pid. The shell waits stopped,
        // not in a read(2), which would be the target's, under probes on
        // reads already attached.
        let list = is_list(cmd);
        let script = if list { "kill -STOP $$; exec /bin/sh -c \"$1\"" } else { "kill -STOP $$; eval \"exec $1\"" };
        let stdout = if stdout_to_stderr {
            std::process::Stdio::from(std::io::stderr())
        } else {
            std::process::Stdio::inherit()
        };
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", script, "sh", cmd])
            .stdout(stdout)
            .spawn()
            .map_err(|e| crate::run::Failure(format!("cannot start the command '{cmd}': {e}")))?;
        let pid = child.id() as i32;
        let mut status = 0;
        // SAFETY: waiting for our own child to stop (or end).
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if r != pid || !libc::WIFSTOPPED(status) {
            let status = (r == pid).then_some(status);
            return Ok(Child { pid, held: false, status });
        }
        Ok(Child { pid, held: true, status: None })
    }

    pub(crate) fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            // SAFETY: continuing our own stopped child.
            unsafe { libc::kill(self.pid, libc::SIGCONT) };
        }
    }

    pub(crate) fn exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut status = 0;
        // SAFETY: waiting for our own child, without blocking.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == self.pid {
            self.status = Some(status);
        }
        self.status.is_some()
    }

    pub(crate) fn finish(&mut self) {
        if self.status.is_some() {
            return;
        }
        self.release();
        if !self.exited() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGTERM);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
        }
    }
}

/// Whether a shell command is a list (`a; b`, `a && b`, `a | b`, `a &`):
/// one of `;&|` or a newline outside quotes.
fn is_list(cmd: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in cmd.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ';' | '&' | '|' | '\n' if !single && !double => return true,
            _ => {}
        }
    }
    false
}

/// A run that fails after starting the command (a program the kernel
/// refuses, say) does not leave it stopped: the shell held before the
/// command is killed, a command already running ends as at the run's end.
impl Drop for Child {
    fn drop(&mut self) {
        if std::mem::take(&mut self.held) {
            // SAFETY: killing and reaping our own stopped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
            self.status = Some(0);
        }
        self.finish();
    }
}

#[cfg(test)]
mod child_tests {
    use super::Child;

    fn gone(pid: i32) -> bool {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_command_never_released_is_killed_when_the_run_fails() {
        let child = Child::spawn("sleep 1000", false).ok();
        let pid = child.as_ref().map_or(0, |c| c.pid);
        assert!(child.as_ref().is_some_and(|c| c.held), "the command is held stopped");
        drop(child);
        assert!(gone(pid), "the held command {pid} is still there");
    }

    #[test]
    fn lists_are_told_from_simple_commands() {
        for list in ["a; b", "a && b", "a | b", "sleep 1 &", "a\nb", "x 'q' ; y"] {
            assert!(super::is_list(list), "{list}");
        }
        for simple in ["perl -e 'getppid() for 1..5; sleep 0'", "sh -c \"a; b\"", "echo a\\;b", "ls -l"] {
            assert!(!super::is_list(simple), "{simple}");
        }
    }

    #[test]
    fn a_released_command_ends_with_the_run() {
        let mut child = Child::spawn("sleep 1000", false).ok();
        let pid = child.as_ref().map_or(0, |c| c.pid);
        if let Some(c) = child.as_mut() {
            c.release();
        }
        drop(child);
        assert!(gone(pid), "the command {pid} is still there");
    }
}
