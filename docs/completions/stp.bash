_stp() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="stp"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        stp)
            opts="-p -e -E -I -D -v -w -W -u -g -V -o -c -x -T -G -m -k -s -l -L -P -b -t -q -F -i -B -a -R -r -d -S -h --skip-badvars --disable-cache --verify --format --function-probes --version --compatible --save-temps --suppress-time-limits --metrics --runtime --bpf --prologue-searching --all-modules --colour --color --rlimit-as --rlimit-cpu --rlimit-nproc --rlimit-stack --rlimit-fsize --dump-probe-aliases --dump-functions --clif --kernel --snapshot-kernel --snapshot-prune --run --man --completions --interactive --vp --modinfo --ldd --suppress-handler-errors --check-version --clean-cache --poison-cache --privilege --unprivileged --use-server --use-server-on-error --list-servers --trust-servers --sign-module --dump-probe-types --remote --remote-prefix --tmpdir --download-debuginfo --sysroot --sysenv --dyninst --save-uprobes --target-namespaces --monitor --example --no-global-var-display --benchmark-sdt --benchmark-sdt-loops --benchmark-sdt-threads --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -e)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -E)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -I)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -D)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --function-probes)
                    COMPREPLY=($(compgen -W "auto fentry kprobe" -- "${cur}"))
                    return 0
                    ;;
                --compatible)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -x)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -T)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -G)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -m)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -l)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -L)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prologue-searching)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --colour)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rlimit-as)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rlimit-cpu)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rlimit-nproc)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rlimit-stack)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rlimit-fsize)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kernel)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --snapshot-kernel)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --snapshot-prune)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --run)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --completions)
                    COMPREPLY=($(compgen -W "bash zsh fish" -- "${cur}"))
                    return 0
                    ;;
                -B)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -R)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -r)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -d)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -S)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modinfo)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --privilege)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --use-server)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --use-server-on-error)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --list-servers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --trust-servers)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sign-module)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --remote)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tmpdir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --download-debuginfo)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sysroot)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sysenv)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --target-namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --monitor)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --benchmark-sdt-loops)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --benchmark-sdt-threads)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _stp -o nosort -o bashdefault -o default stp
else
    complete -F _stp -o bashdefault -o default stp
fi

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
