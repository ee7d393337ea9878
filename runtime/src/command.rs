//! Checks of the `-c` command and the `-x` process made before a run
//! starts, so that a command that cannot run or a process that does not
//! exist is an error naming it, not a session that begins, ends at once
//! and exits with status 0.

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
