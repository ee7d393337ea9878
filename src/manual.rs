//! The manual page `stp(1)` and the shell completions, both made from
//! the command line's definition ([`crate::cli::command`]) so that they
//! list exactly the options stp takes: `stp --man` prints the page
//! (clap_mangen's title, synopsis and options, then the sections written
//! here: probe points, the tapset library, differences from stap,
//! privileges, exit status, environment, files), and `stp --completions
//! SHELL` the script for bash, zsh or fish (clap_complete's, with
//! probe-point completion after `-l` and `-L` from `stp -l` itself).
//! `docs/stp.1` and `docs/completions/` hold what they print; a test keeps
//! them current.

use clap_mangen::roff::{Roff, bold, roman};

/// `--completions`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// One paragraph of a hand-written section.
enum Para {
    /// A plain paragraph.
    Text(&'static str),
    /// A tagged paragraph: the term (in bold), then its text.
    Item(&'static str, &'static str),
    /// An example, as typed (no filling).
    Example(&'static str),
}

use Para::{Example, Item, Text};

/// The sections after OPTIONS, in order.
const SECTIONS: &[(&str, &[Para])] = &[
    (
        "PROBE POINTS",
        &[
            Text(
                "A probe point names an event; a script's probe runs its handler each time one of its points \
                 fires. Points may use * and ** wildcards, end in ? (optional) or ! (optional, and the first \
                 that resolves wins), and name probe aliases of the tapset library. stp -l PATTERN lists what \
                 a pattern matches on this kernel, and stp -L PATTERN adds the context variables.",
            ),
            Item("begin, end, error, never", "At the start and end of the run, on a runtime error, and never."),
            Item(
                "timer.s(N), timer.ms(N), timer.us(N), timer.ns(N), timer.jiffies(N), timer.hz(N)",
                "Every interval, run on the user side; .randomize(M) varies the interval.",
            ),
            Item("timer.profile", "On every CPU at each scheduler tick (a perf event), in the kernel."),
            Item(
                "kernel.trace(\"SYSTEM:EVENT\")",
                "A kernel tracepoint, its arguments as $name (from BTF or from the event's record).",
            ),
            Item(
                "kernel.function(\"NAME\"), kernel.function(\"NAME\").return, module(\"M\").function(\"NAME\")",
                "Entry and return of a kernel function: fentry/fexit where the kernel allows them, else kprobes \
                 (--function-probes). $parameters and $return come from the kernel's BTF.",
            ),
            Item(
                "kprobe.function(\"NAME\"), kernel.statement(ADDR).absolute",
                "A kprobe without BTF, and a probe at an address (-g).",
            ),
            Item(
                "process(\"PATH\").function(\"NAME\"), .return, .library(\"LIB\"), process(\"PATH\").mark(\"NAME\")",
                "User-space functions (uprobes at the ELF symbol) and USDT marks (.note.stapsdt), with $arg1 ... \
                 $argN of a mark and $return of a .return probe.",
            ),
            Item("perf.sw.NAME, perf.hw.NAME, perf.type(T).config(C)", "Perf events, .sample(N) or .hz(N)."),
            Item("lsm.HOOK", "A BPF LSM hook, where the kernel has BPF LSM enabled."),
            Item(
                "syscall.NAME, syscall.NAME.return, syscall.*",
                "System calls, with stap's variables (name, argstr, the arguments by stap's names, retval, \
                 retstr). Many more aliases (vfs.*, scheduler.*, signal.*, tcp.*, ioblock.*, ...) come from \
                 the tapset library: stp --dump-probe-aliases lists them.",
            ),
        ],
    ),
    (
        "TAPSET LIBRARY",
        &[
            Text(
                "stp embeds its tapset library (probe aliases and functions written in the script language, \
                 on top of functions the compiler implements); nothing is read from /usr/share/systemtap. \
                 -I DIR adds tapsets (*.stp) and macro libraries (*.stpm), and SYSTEMTAP_TAPSET names a \
                 directory that replaces the embedded library.",
            ),
            Text(
                "stp --dump-functions lists every function with its signature and a one-line description, and \
                 stp --dump-probe-aliases every alias with the points it expands to and a description. The \
                 reference of both, and the coverage of SystemTap's tapset reference, are in \
                 docs/library.md, docs/tapset-functions.md and docs/syscalls.md (installed under \
                 /usr/share/doc/stp by the Debian package).",
            ),
        ],
    ),
    (
        "DIFFERENCES FROM STAP",
        &[
            Text(
                "stp compiles to eBPF programs that the kernel's verifier checks, and needs no kernel module, \
                 C compiler, kernel headers or debuginfo: the kernel's BTF, kallsyms and tracefs describe the \
                 kernel. Embedded C and DWARF-only features (line numbers in backtraces, statement probes by \
                 line, $variables of functions without BTF) are refused with a reason.",
            ),
            Text(
                "Updates of globals from kernel handlers are single atomic instructions (++, +=, |=, ..., <<<); \
                 other read-modify-write sequences are not atomic, and stp warns at them. A loop of a kernel \
                 handler that certainly costs the verifier too much is refused at compile time.",
            ),
            Text(
                "stap options stp does not implement are refused by name (\"option '--X' is not supported \
                 yet\"), never ignored. stp adds --kernel, --snapshot-kernel, --verify, --run, \
                 --function-probes, --clif, --man and --completions.",
            ),
            Text(
                "-p4 writes an eBPF object, NAME.o, that stp --run NAME.o runs on the same kernel without the \
                 script (as staprun runs stap's modules); it is not relocated to other kernels.",
            ),
        ],
    ),
    (
        "PRIVILEGES",
        &[Text(
            "Running a script needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE and read \
             access to tracefs. Without them stp says so in one line and exits with status 1 before it reads \
             the script. Passes 1 to 4 (-p1 ... -p4), -l and the --dump options need no privileges, but \
             tracepoints (and the aliases on them, such as syscall.*) are read from tracefs, which is \
             often readable by root alone.",
        )],
    ),
    (
        "EXIT STATUS",
        &[
            Item("0", "The script ran and ended normally (exit(), the end of -c, -T, or a signal)."),
            Item("1", "A usage error, a compile error, a refusal, or a runtime error that ended the script."),
            Item("70", "An internal error of stp (please report it)."),
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            Item("SYSTEMTAP_TAPSET", "A directory of tapsets used instead of the embedded library."),
            Item(
                "STP_CACHE_DIR, XDG_CACHE_HOME",
                "Where the cache of the kernel's traceable functions is kept: STP_CACHE_DIR (empty: no cache), \
                 else $XDG_CACHE_HOME/stp, else ~/.cache/stp.",
            ),
        ],
    ),
    (
        "FILES",
        &[
            Item(
                "~/.cache/stp",
                "The kernel's traceable functions, cached per boot (see ENVIRONMENT; --disable-cache bypasses \
                 it).",
            ),
            Item("NAME.o", "The object -p4 writes in the current directory (-m NAME, else stp_PID)."),
        ],
    ),
    (
        "EXAMPLES",
        &[
            Example("stp -e 'probe syscall.openat { printf(\"%s %s\\n\", execname(), argstr) }' -T 5"),
            Example("stp -c 'cat /etc/hostname' examples/read-sizes.stp"),
            Example("stp -l 'kernel.trace(\"sched:*\")'"),
            Example("stp -p4 -m counts script.stp && stp --run counts.o"),
        ],
    ),
    ("SEE ALSO", &[Text("stap(1), stapprobes(3stap), stapfuncs(3stap), bpftool(8)")]),
];

/// The forms of the command, and what each does.
const SYNOPSIS: &[(&str, &str)] = &[
    ("[OPTIONS] FILE [ARGS...]", "Run the script in FILE."),
    ("[OPTIONS] - [ARGS...]", "Run the script read from standard input."),
    ("[OPTIONS] -e SCRIPT [ARGS...]", "Run the given script."),
    ("[OPTIONS] -l PROBE", "List the probe points PROBE matches."),
    ("[OPTIONS] -L PROBE", "List them with their context variables."),
    ("--run OBJECT [OPTIONS]", "Run an object written by -p4."),
    ("--dump-functions | --dump-probe-aliases", "List the tapset library."),
];

/// `stp --man`: the manual page, as roff.
pub fn man_page() -> String {
    let cmd = crate::cli::command();
    let man = clap_mangen::Man::new(cmd).title("STP").section("1").source(format!("stp {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    // Rendering into memory cannot fail; a failure leaves the page short,
    // and the test of docs/stp.1 would say so.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let mut description = Roff::new();
    description.control("SH", ["SYNOPSIS"]);
    for (form, what) in SYNOPSIS {
        description.control("TP", []);
        description.text([bold("stp"), roman(" "), roman(*form)]);
        description.text([roman(*what)]);
    }
    description.control("SH", ["DESCRIPTION"]);
    description.text([roman(
        "stp reads SystemTap scripts (probe points, probe aliases, the tapset library, $target variables, \
         statistics, printf) and compiles them to eBPF programs that the kernel's verifier checks, then \
         loads, attaches and runs them, printing what the script prints. It follows stap(1): the same \
         language, the same five passes (-p1 parse, -p2 elaborate, -p3 translate, -p4 build an object, \
         -p5 run) and the same options, and SystemTap's tapset reference describes the functions and \
         aliases it offers.",
    )]);
    out.extend_from_slice(description.render().as_bytes());
    let _ = man.render_options_section(&mut out);
    let mut roff = Roff::new();
    for (title, paras) in SECTIONS {
        roff.control("SH", [*title]);
        for para in *paras {
            match para {
                Text(text) => {
                    roff.control("PP", []);
                    roff.text([roman(*text)]);
                }
                Item(term, text) => {
                    roff.control("TP", []);
                    roff.text([bold(*term)]);
                    roff.text([roman(*text)]);
                }
                Example(text) => {
                    roff.control("PP", []);
                    roff.control("nf", []);
                    roff.text([roman(*text)]);
                    roff.control("fi", []);
                }
            }
        }
    }
    out.extend_from_slice(roff.render().as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Bash: complete a probe point after -l or -L from `stp -l`; the rest
/// is clap's completion (`_stp`).
const BASH_PROBES: &str = r#"
# Probe points after -l and -L, from stp -l itself. The point is taken
# from the line (bash splits words at the quotes, parentheses and colons
# probe points have), and each candidate is cut to the part bash replaces.
_stp_probes() {
    local line="${COMP_LINE:0:COMP_POINT}"
    if [[ "$line" =~ [[:space:]]-[lL][[:space:]]+([^[:space:]]*)$ ]]; then
        local full="${BASH_REMATCH[1]}" word="${COMP_WORDS[COMP_CWORD]}"
        [[ "$word" == @(\'|\"|\(|:) ]] && word=""
        local point="${full#[\'\"]}"
        local keep="${full:0:${#full}-${#word}}"
        keep="${keep#[\'\"]}"
        local pat
        case "$point" in
            *'("'*'")'*) pat="$point*" ;;
            *'("'*) pat="$point*\")" ;;
            *) pat="$point*, $point*.*" ;;
        esac
        local IFS=$'\n' p
        COMPREPLY=()
        for p in $("${COMP_WORDS[0]}" -l "$pat" 2>/dev/null); do
            [[ "$p" == "$point"* ]] && COMPREPLY+=("${p#"$keep"}")
        done
        return 0
    fi
    _stp "$@"
}
complete -F _stp_probes -o bashdefault -o default stp
"#;

/// Zsh: the same, as the value completer of -l and -L.
const ZSH_PROBES: &str = r#"
# Probe points after -l and -L, from stp -l itself.
_stp_probes() {
    local cur="${PREFIX#[\'\"]}" pat
    case "$cur" in
        *'("'*'")'*) pat="$cur*" ;;
        *'("'*) pat="$cur*\")" ;;
        *) pat="$cur*, $cur*.*" ;;
    esac
    local -a points
    points=("${(@f)$(stp -l "$pat" 2>/dev/null)}")
    compadd -Q -a points
}
"#;

/// Fish: the same, as the arguments of -l and -L.
const FISH_PROBES: &str = r#"
# Probe points after -l and -L, from stp -l itself.
function __stp_probes
    set -l cur (commandline -ct | string trim -c "'\"")
    if string match -q -- '*("*")*' $cur
        stp -l "$cur*" 2>/dev/null
    else if string match -q -- '*("*' $cur
        stp -l "$cur*\")" 2>/dev/null
    else
        stp -l "$cur*, $cur*.*" 2>/dev/null
    end
end
"#;

/// `stp --completions SHELL`: the completion script.
pub fn completions(shell: Shell) -> String {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "stp", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => text.push_str(BASH_PROBES),
        Shell::Zsh => {
            // clap's spec of -l and -L completes anything; ours, probe points.
            for (flag, help) in
                [("-l", "List matching probes"), ("-L", "List matching probes and their context variables")]
            {
                text = text.replace(
                    &format!("'{flag}+[{help}]:PROBE:_default'"),
                    &format!("'{flag}+[{help}]:PROBE:_stp_probes'"),
                );
            }
            // Defined before clap's function is called at the end of the file.
            text = text.replacen("\n_stp() {", &format!("{ZSH_PROBES}\n_stp() {{"), 1);
        }
        Shell::Fish => {
            // clap's -l and -L complete file names; ours, probe points.
            text = text
                .lines()
                .map(|l| match l.strip_suffix(" -r") {
                    Some(head)
                        if head.starts_with("complete -c stp -s l ") || head.starts_with("complete -c stp -s L ") =>
                    {
                        format!("{head} -x -a '(__stp_probes)'\n")
                    }
                    _ => format!("{l}\n"),
                })
                .collect();
            text.insert_str(0, FISH_PROBES.trim_start());
        }
    }
    text
}
