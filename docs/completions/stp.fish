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
complete -c stp -s p -d 'Stop after pass NUM 1-5 (parse, elaborate, translate, compile, run)' -r
complete -c stp -s e -d 'Run the given script' -r
complete -c stp -s E -d 'Run SCRIPT in addition to the main script' -r
complete -c stp -s I -d 'Look in DIR for additional tapset scripts (*.stp) and macros (*.stpm)' -r -F
complete -c stp -s D -d 'Define a limit or setting such as MAXSTRINGLEN=256' -r
complete -c stp -l format -d 'How a run writes what it prints: stap\'s text, or NDJSON (one JSON object per line; see docs/json-output.md)' -r -f -a "text\t'stap\'s text'
json\t'NDJSON: one JSON object per line for each output, histogram, global shown at exit, warning, error and lost-record count, then the exit status'"
complete -c stp -l function-probes -d 'How kernel.function probes attach: fentry/fexit where the kernel allows them, else kprobes (auto), or always one of the two; kprobe also keeps BTF tracepoints (tp_btf) to their raw tracepoints' -r -f -a "auto\t''
fentry\t''
kprobe\t''"
complete -c stp -l compatible -d 'Suppress language changes beyond VERSION' -r
complete -c stp -s o -d 'Send script output to FILE' -r -F
complete -c stp -s c -d 'Start the probes, run CMD, and exit when it finishes' -r
complete -c stp -s x -d 'Set target() to PID' -r
complete -c stp -s T -d 'Terminate the script after TIME seconds' -r
complete -c stp -s G -d 'Set global variable VAR to VALUE' -r
complete -c stp -s m -d 'Name the compiled object MODULE' -r
complete -c stp -l metrics -d 'Serve the script\'s metrics to Prometheus at http://ADDR:PORT/metrics while it runs: what its `prometheus` probes print at each scrape, else its numeric globals and statistics' -r
complete -c stp -s s -d 'Use NUM megabyte buffers for output (by default 2, and 64 KiB when the kernel\'s handlers print nothing)' -r
complete -c stp -s l -d 'List matching probes' -x -a '(__stp_probes)'
complete -c stp -s L -d 'List matching probes and their context variables' -x -a '(__stp_probes)'
complete -c stp -l runtime -d 'The pass-5 runtime; stp has only "bpf"' -r
complete -c stp -l prologue-searching -d 'Prologue searching for function probes (always, never, auto)' -r
complete -c stp -l color -l colour -d 'Colour diagnostics: always, auto or never (also spelled --colour)' -r
complete -c stp -l rlimit-as -d 'Limit the address space of stp to NUM bytes' -r
complete -c stp -l rlimit-cpu -d 'Limit the CPU time of stp to NUM seconds' -r
complete -c stp -l rlimit-nproc -d 'Limit the processes of the user to NUM' -r
complete -c stp -l rlimit-stack -d 'Limit the stack of stp to NUM bytes' -r
complete -c stp -l rlimit-fsize -d 'Limit the size of files stp writes to NUM bytes' -r
complete -c stp -l kernel -d 'Describe the kernel from a snapshot directory instead of the running kernel' -r -F
complete -c stp -l snapshot-kernel -d 'Write a snapshot of the running kernel\'s description (BTF, kallsyms, tracepoints) to DIR and exit' -r -F
complete -c stp -l snapshot-prune -d 'With --snapshot-kernel: keep only what FILE lists (`function GLOB`, `event SYS:NAME`, `type NAME`, `depth N` lines)' -r -F
complete -c stp -l run -d 'Run OBJECT, written by -p4 (-m NAME writes NAME.o), without its script, as staprun runs stap\'s modules; only run-time options (-o, -c, -x, -T, -v) apply' -r -F
complete -c stp -l completions -d 'Print the completion script for SHELL (bash, zsh or fish) and exit' -r -f -a "bash\t''
zsh\t''
fish\t''"
complete -c stp -s B -r
complete -c stp -s a -r
complete -c stp -s R -r
complete -c stp -s r -r
complete -c stp -s d -r
complete -c stp -s S -r
complete -c stp -l vp -r
complete -c stp -l modinfo -r
complete -c stp -l privilege -r
complete -c stp -l use-server -r
complete -c stp -l use-server-on-error -r
complete -c stp -l list-servers -r
complete -c stp -l trust-servers -r
complete -c stp -l sign-module -r
complete -c stp -l remote -r
complete -c stp -l tmpdir -r
complete -c stp -l download-debuginfo -r
complete -c stp -l sysroot -r
complete -c stp -l sysenv -r
complete -c stp -l target-namespaces -r
complete -c stp -l monitor -r
complete -c stp -l benchmark-sdt-loops -r
complete -c stp -l benchmark-sdt-threads -r
complete -c stp -s v -d 'Add verbosity to all passes (repeatable)'
complete -c stp -s w -d 'Suppress warnings'
complete -c stp -s W -d 'Turn warnings into errors'
complete -c stp -s u -d 'Unoptimised translation: keep unused variables and functions'
complete -c stp -l skip-badvars -d 'Substitute 0 for target variables that cannot be resolved (with a warning)'
complete -c stp -l disable-cache -d 'Do not read or write the cache of the kernel\'s traceable functions'
complete -c stp -l verify -d 'With -p4: load the object\'s programs into the kernel so that its verifier checks them, then unload them'
complete -c stp -s g -d 'Guru mode: allow embedded C and other expert constructs'
complete -c stp -s V -l version -d 'Show the version'
complete -c stp -s k -l save-temps -d 'Keep the compiled object of a run in a temporary directory, and say where'
complete -c stp -l suppress-time-limits -d 'Do not stop the script when its probes take too much processor time'
complete -c stp -l bpf -d 'Shorthand for --runtime=bpf'
complete -c stp -s P -d 'Same as --prologue-searching=always'
complete -c stp -l all-modules -d 'Symbols of all loaded kernel modules for backtraces: stp always has them, from /proc/kallsyms'
complete -c stp -l dump-probe-aliases -d 'List the probe aliases of the tapset library'
complete -c stp -l dump-functions -d 'List the functions of the tapset library and the compiler'
complete -c stp -l clif -d 'With -p3: also print the Cranelift IR of the user-placed handlers (begin, end, error, timers)'
complete -c stp -l man -d 'Print the manual page stp(1) (roff; `stp --man | man -l -`) and exit'
complete -c stp -s b
complete -c stp -s t
complete -c stp -s q
complete -c stp -s F
complete -c stp -s i -l interactive
complete -c stp -l ldd
complete -c stp -l suppress-handler-errors
complete -c stp -l check-version
complete -c stp -l clean-cache
complete -c stp -l poison-cache
complete -c stp -l unprivileged
complete -c stp -l dump-probe-types
complete -c stp -l remote-prefix
complete -c stp -l dyninst
complete -c stp -l save-uprobes
complete -c stp -l example
complete -c stp -l no-global-var-display
complete -c stp -l benchmark-sdt
complete -c stp -s h -l help -d 'Print help (see more with \'--help\')'
