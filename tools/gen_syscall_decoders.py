#!/usr/bin/env python3
"""Writes stdlib/linux/syscalls_decode.stp and syscalls_decode2.stp: the syscall tapset's decoders of
flags and enums (x86_64 values), in the script language so that they run in
kernel handlers, several tests to a line (each file stays under 1,000
lines).
Run from the repository's root after editing the lists."""

OPEN = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"), (0o10000, "O_DSYNC"),
        (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"),
        (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH")]
PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (8, "PROT_SEM"),
        (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP")]
MMAP = [(1, "MAP_SHARED"), (2, "MAP_PRIVATE"), (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"),
        (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"),
        (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
        (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
        (0x40, "MAP_32BIT")]
SIGNALS = [(0, "SIG_0"), (1, "SIGHUP"), (2, "SIGINT"), (3, "SIGQUIT"), (4, "SIGILL"), (5, "SIGTRAP"),
           (6, "SIGABRT"), (7, "SIGBUS"), (8, "SIGFPE"), (9, "SIGKILL"), (10, "SIGUSR1"),
           (11, "SIGSEGV"), (13, "SIGPIPE"), (12, "SIGUSR2"), (14, "SIGALRM"), (15, "SIGTERM"),
           (17, "SIGCHLD"), (18, "SIGCONT"), (19, "SIGSTOP"), (20, "SIGTSTP"), (21, "SIGTTIN"),
           (22, "SIGTTOU"), (23, "SIGURG"), (24, "SIGXCPU"), (25, "SIGXFSZ"), (26, "SIGVTALRM"),
           (27, "SIGPROF"), (28, "SIGWINCH"), (29, "SIGIO/SIGPOLL"), (30, "SIGPWR"), (31, "SIGSYS"),
           (0x85, "TRACESYSGOOD")]
FCNTL = [(0, "F_DUPFD"), (1, "F_GETFD"), (2, "F_SETFD"), (3, "F_GETFL"), (4, "F_SETFL"), (5, "F_GETLK"),
         (6, "F_SETLK"), (7, "F_SETLKW"), (8, "F_SETOWN"), (9, "F_GETOWN"), (10, "F_SETSIG"),
         (11, "F_GETSIG"), (15, "F_SETOWN_EX"), (16, "F_GETOWN_EX"), (17, "F_GETOWNER_UIDS"),
         (1024, "F_SETLEASE"), (1025, "F_GETLEASE"), (1030, "F_DUPFD_CLOEXEC"), (1026, "F_NOTIFY"),
         (1031, "F_SETPIPE_SZ"), (1032, "F_GETPIPE_SZ")]
WHENCE = [(0, "SEEK_SET"), (1, "SEEK_CUR"), (2, "SEEK_END"), (3, "SEEK_DATA"), (4, "SEEK_HOLE")]
ATFLAG = [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
          (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH")]
CLOCKS = [(0, "CLOCK_REALTIME"), (1, "CLOCK_MONOTONIC"), (2, "CLOCK_PROCESS_CPUTIME_ID"),
          (3, "CLOCK_THREAD_CPUTIME_ID"), (4, "CLOCK_MONOTONIC_RAW"), (5, "CLOCK_REALTIME_COARSE"),
          (6, "CLOCK_MONOTONIC_COARSE"), (7, "CLOCK_BOOTTIME"), (8, "CLOCK_REALTIME_ALARM"),
          (9, "CLOCK_BOOTTIME_ALARM"), (10, "CLOCK_SGI_CYCLE"), (11, "CLOCK_TAI")]
STATX_MASK = [(0x6000, "AT_STATX_SYNC_TYPE"), (0, "AT_STATX_SYNC_AS_STAT"), (0x2000, "AT_STATX_FORCE_SYNC"),
              (0x4000, "AT_STATX_DONT_SYNC")]
PIPE2 = [(0o4000, "O_NONBLOCK"), (0o2000000, "O_CLOEXEC"), (0o40000, "O_DIRECT")]
NANOSLEEP = [(1, "TIMER_ABSTIME")]
RENAME = [(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")]
FAMILY = [(0, "PF_UNSPEC"), (1, "PF_LOCAL"), (2, "PF_INET"), (3, "PF_AX25"), (4, "PF_IPX"),
          (5, "PF_APPLETALK"), (6, "PF_NETROM"), (7, "PF_BRIDGE"), (8, "PF_ATMPVC"), (9, "PF_X25"),
          (10, "PF_INET6"), (11, "PF_ROSE"), (12, "PF_DECnet"), (13, "PF_NETBEUI"), (14, "PF_SECURITY"),
          (15, "PF_KEY"), (16, "PF_NETLINK"), (17, "PF_PACKET"), (18, "PF_ASH"), (19, "PF_ECONET"),
          (20, "PF_ATMSVC"), (21, "PF_RDS"), (22, "PF_SNA"), (23, "PF_IRDA"), (24, "PF_PPPOX"),
          (25, "PF_WANPIPE"), (26, "PF_LLC"), (27, "PF_IB"), (29, "PF_CAN"), (30, "PF_TIPC"),
          (31, "PF_BLUETOOTH"), (32, "PF_IUCV"), (33, "PF_RXRPC"), (34, "PF_ISDN"), (35, "PF_PHONET"),
          (36, "PF_IEEE802154"), (37, "PF_CAIF"), (38, "PF_ALG"), (39, "PF_NFC"), (40, "PF_VSOCK")]
SOCKTYPE = [(1, "SOCK_STREAM"), (2, "SOCK_DGRAM"), (3, "SOCK_RAW"), (4, "SOCK_RDM"),
            (5, "SOCK_SEQPACKET"), (6, "SOCK_DCCP"), (10, "SOCK_PACKET")]
IPPROTO = [(0, "IPPROTO_IP"), (1, "IPPROTO_ICMP"), (2, "IPPROTO_IGMP"), (4, "IPPROTO_IPIP"),
           (6, "IPPROTO_TCP"), (8, "IPPROTO_EGP"), (12, "IPPROTO_PUP"), (17, "IPPROTO_UDP"),
           (22, "IPPROTO_IDP"), (29, "IPPROTO_TP"), (33, "IPPROTO_DCCP"), (41, "IPPROTO_IPV6"),
           (46, "IPPROTO_RSVP"), (47, "IPPROTO_GRE"), (50, "IPPROTO_ESP"), (51, "IPPROTO_AH"),
           (58, "IPPROTO_ICMPV6"), (103, "IPPROTO_PIM"), (108, "IPPROTO_COMP"), (132, "IPPROTO_SCTP"),
           (136, "IPPROTO_UDPLITE"), (255, "IPPROTO_RAW")]

CLONE = [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
         (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"),
         (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"),
         (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"),
         (0x400000, "CLONE_DETACHED"), (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
         (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
         (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO")]
_FUTEX = ["FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
          "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
          "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI"]
FUTEX = [(i, n) for i, n in enumerate(_FUTEX)] + [(i | 128, n + "_PRIVATE") for i, n in enumerate(_FUTEX)
                                                  if n != "FUTEX_FD"]
FUTEX_WAKE_OPS = [(0, "FUTEX_OP_SET"), (1, "FUTEX_OP_ADD"), (2, "FUTEX_OP_OR"), (3, "FUTEX_OP_ANDN"),
                  (4, "FUTEX_OP_XOR")]
FUTEX_WAKE_CMPS = [(0, "FUTEX_OP_CMP_EQ"), (1, "FUTEX_OP_CMP_NE"), (2, "FUTEX_OP_CMP_LT"),
                   (3, "FUTEX_OP_CMP_LE"), (4, "FUTEX_OP_CMP_GT"), (5, "FUTEX_OP_CMP_GE")]

PRCTL = [(1, "PR_SET_PDEATHSIG"), (2, "PR_GET_PDEATHSIG"), (3, "PR_GET_DUMPABLE"), (4, "PR_SET_DUMPABLE"),
         (5, "PR_GET_UNALIGN"), (6, "PR_SET_UNALIGN"), (7, "PR_GET_KEEPCAPS"), (8, "PR_SET_KEEPCAPS"),
         (9, "PR_GET_FPEMU"), (10, "PR_SET_FPEMU"), (11, "PR_GET_FPEXC"), (12, "PR_SET_FPEXC"),
         (13, "PR_GET_TIMING"), (14, "PR_SET_TIMING"), (15, "PR_SET_NAME"), (16, "PR_GET_NAME"),
         (19, "PR_GET_ENDIAN"), (20, "PR_SET_ENDIAN"), (21, "PR_GET_SECCOMP"), (22, "PR_SET_SECCOMP"),
         (23, "PR_CAPBSET_READ"), (24, "PR_CAPBSET_DROP"), (25, "PR_GET_TSC"), (26, "PR_SET_TSC"),
         (27, "PR_GET_SECUREBITS"), (28, "PR_SET_SECUREBITS"), (29, "PR_SET_TIMERSLACK"),
         (30, "PR_GET_TIMERSLACK"), (31, "PR_TASK_PERF_EVENTS_DISABLE"), (32, "PR_TASK_PERF_EVENTS_ENABLE"),
         (33, "PR_MCE_KILL"), (34, "PR_MCE_KILL_GET"), (35, "PR_SET_MM"), (0x59616d61, "PR_SET_PTRACER"),
         (36, "PR_SET_CHILD_SUBREAPER"), (37, "PR_GET_CHILD_SUBREAPER"), (38, "PR_SET_NO_NEW_PRIVS"),
         (39, "PR_GET_NO_NEW_PRIVS"), (40, "PR_GET_TID_ADDRESS"), (41, "PR_SET_THP_DISABLE"),
         (42, "PR_GET_THP_DISABLE"), (43, "PR_MPX_ENABLE_MANAGEMENT"), (44, "PR_MPX_DISABLE_MANAGEMENT")]
PR_UNALIGN = [(1, "PR_UNALIGN_NOPRINT"), (2, "PR_UNALIGN_SIGBUS")]
PR_FPEMU = [(1, "PR_FPEMU_NOPRINT"), (2, "PR_FPEMU_SIGFPE")]
PR_FPEXC = [(0x80, "PR_FP_EXC_SW_ENABLE"), (0x10000, "PR_FP_EXC_DIV"), (0x20000, "PR_FP_EXC_OVF"),
            (0x40000, "PR_FP_EXC_UND"), (0x80000, "PR_FP_EXC_RES"), (0x100000, "PR_FP_EXC_INV"),
            (0, "PR_FP_EXC_DISABLED"), (1, "PR_FP_EXC_NONRECOV"), (2, "PR_FP_EXC_ASYNC"),
            (3, "PR_FP_EXC_PRECISE")]
PR_TIMING = [(0, "PR_TIMING_STATISTICAL"), (1, "PR_TIMING_TIMESTAMP")]
PR_ENDIAN = [(0, "PR_ENDIAN_BIG"), (1, "PR_ENDIAN_LITTLE"), (2, "PR_ENDIAN_PPC_LITTLE")]
PR_TSC = [(1, "PR_TSC_ENABLE"), (2, "PR_TSC_SIGSEGV")]
PR_MCE_KILL = [(0, "PR_MCE_KILL_CLEAR"), (1, "PR_MCE_KILL_SET")]
PR_MCE_KILL2 = [(0, "PR_MCE_KILL_LATE"), (1, "PR_MCE_KILL_EARLY"), (2, "PR_MCE_KILL_DEFAULT")]
PR_MM = [(i + 1, "PR_SET_MM_" + n) for i, n in enumerate(
    ["START_CODE", "END_CODE", "START_DATA", "END_DATA", "START_STACK", "START_BRK", "BRK", "ARG_START",
     "ARG_END", "ENV_START", "ENV_END", "AUXV", "EXE_FILE", "MAP", "MAP_SIZE"])]
SECCOMP_MODE = [(0, "SECCOMP_MODE_DISABLED"), (1, "SECCOMP_MODE_STRICT"), (2, "SECCOMP_MODE_FILTER")]
CAPS = [(i, "CAP_" + n) for i, n in enumerate(
    ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
     "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
     "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
     "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
     "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ"])]
SECUREBITS = [(1, "SECBIT_NOROOT"), (2, "SECBIT_NOROOT_LOCKED"), (4, "SECBIT_NO_SETUID_FIXUP"),
              (8, "SECBIT_NO_SETUID_FIXUP_LOCKED"), (16, "SECBIT_KEEP_CAPS"), (32, "SECBIT_KEEP_CAPS_LOCKED")]

SA_FLAGS = [(1, "SA_NOCLDSTOP"), (2, "SA_NOCLDWAIT"), (0x80000000, "SA_RESETHAND"), (0x08000000, "SA_ONSTACK"),
            (0x10000000, "SA_RESTART"), (0x40000000, "SA_NODEFER"), (4, "SA_SIGINFO"), (0x04000000, "SA_RESTORER")]

MSG_FLAGS = [(1, "MSG_OOB"), (2, "MSG_PEEK"), (4, "MSG_DONTROUTE"), (4, "MSG_TRYHARD"), (8, "MSG_CTRUNC"),
             (0x10, "MSG_PROBE"), (0x20, "MSG_TRUNC"), (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"),
             (0x100, "MSG_WAITALL"), (0x200, "MSG_FIN"), (0x400, "MSG_SYN"), (0x800, "MSG_CONFIRM"),
             (0x1000, "MSG_RST"), (0x2000, "MSG_ERRQUEUE"), (0x4000, "MSG_NOSIGNAL"), (0x8000, "MSG_MORE"),
             (0x10000, "MSG_WAITFORONE"), (0x200, "MSG_EOF"), (0x20000000, "MSG_FASTOPEN"),
             (0x40000000, "MSG_CMSG_CLOEXEC")]
SOCK_FLAGS = [(0x80000, "SOCK_CLOEXEC"), (0x800, "SOCK_NONBLOCK")]

ACCESS_MODE = [(0, "F_OK"), (4, "R_OK"), (2, "W_OK"), (1, "X_OK")]
FLOCK = [(1, "LOCK_SH"), (2, "LOCK_EX"), (4, "LOCK_NB"), (8, "LOCK_UN"), (32, "LOCK_MAND"), (64, "LOCK_READ"),
         (128, "LOCK_WRITE"), (192, "LOCK_RW")]
RLIMIT = [(0xffffffff, "RLIM_INFINITY")] + [(i, "RLIMIT_" + n) for i, n in enumerate(
    ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING",
     "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"])] + [(16, "RLIM_NLIMITS")]
MADVISE = [(0, "MADV_NORMAL"), (1, "MADV_RANDOM"), (2, "MADV_SEQUENTIAL"), (3, "MADV_WILLNEED"),
           (4, "MADV_DONTNEED"), (8, "MADV_FREE"), (9, "MADV_REMOVE"), (10, "MADV_DONTFORK"), (11, "MADV_DOFORK"),
           (100, "MADV_HWPOISON"), (101, "MADV_SOFT_OFFLINE"), (12, "MADV_MERGEABLE"), (13, "MADV_UNMERGEABLE"),
           (14, "MADV_HUGEPAGE"), (15, "MADV_NOHUGEPAGE"), (16, "MADV_DONTDUMP"), (17, "MADV_DODUMP")]
FADVISE = [(0, "POSIX_FADV_NORMAL"), (1, "POSIX_FADV_RANDOM"), (2, "POSIX_FADV_SEQUENTIAL"),
           (3, "POSIX_FADV_WILLNEED"), (4, "POSIX_FADV_DONTNEED"), (5, "POSIX_FADV_NOREUSE")]
MLOCKALL = [(1, "MCL_CURRENT"), (2, "MCL_FUTURE"), (4, "MCL_ONFAULT")]
MSYNC = [(1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC")]
WAIT4 = [(1, "WNOHANG"), (4, "WEXITED"), (2, "WSTOPPED"), (8, "WCONTINUED"), (0x01000000, "WNOWAIT"),
         (0x20000000, "__WNOTHREAD"), (0x40000000, "__WALL"), (0x80000000, "__WCLONE")]
WAITID_WHICH = [(0, "P_ALL"), (1, "P_PID"), (2, "P_PGID")]
ITIMER = [(0, "ITIMER_REAL"), (1, "ITIMER_VIRTUAL"), (2, "ITIMER_PROF")]
RUSAGE = [(0, "RUSAGE_SELF"), (0xffffffff, "RUSAGE_CHILDREN"), (0xfffffffe, "RUSAGE_BOTH"), (1, "RUSAGE_THREAD")]
PRIO_WHICH = [(0, "PRIO_PROCESS"), (1, "PRIO_PGRP"), (2, "PRIO_USER")]
SCHED_POLICY = [(0, "SCHED_OTHER"), (1, "SCHED_FIFO"), (2, "SCHED_RR"), (3, "SCHED_BATCH"), (5, "SCHED_IDLE"),
                (6, "SCHED_DEADLINE")]
MREMAP = [(1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED")]
EVENTFD = [(0o4000, "EFD_NONBLOCK"), (0o2000000, "EFD_CLOEXEC"), (1, "EFD_SEMAPHORE")]
INOTIFY_INIT = [(0o4000, "IN_NONBLOCK"), (0o2000000, "IN_CLOEXEC")]
EPOLL_CREATE = [(0o2000000, "EPOLL_CLOEXEC")]
EPOLL_OP = [(1, "EPOLL_CTL_ADD"), (3, "EPOLL_CTL_MOD"), (2, "EPOLL_CTL_DEL")]
TIMERFD = [(1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET"), (0o2000000, "TFD_CLOEXEC"), (0o4000, "TFD_NONBLOCK")]
MFD = [(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (0o2000000, "O_CLOEXEC")]
GETRANDOM = [(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM")]
UMOUNT = [(1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW")]
SPLICE = [(1, "SPLICE_F_MOVE"), (2, "SPLICE_F_NONBLOCK"), (4, "SPLICE_F_MORE"), (8, "SPLICE_F_GIFT")]
MOUNT = [(1, "MS_RDONLY"), (2, "MS_NOSUID"), (4, "MS_NODEV"), (8, "MS_NOEXEC"), (16, "MS_SYNCHRONOUS"),
         (32, "MS_REMOUNT"), (64, "MS_MANDLOCK"), (128, "MS_DIRSYNC"), (1024, "MS_NOATIME"),
         (2048, "MS_NODIRATIME"), (4096, "MS_BIND"), (8192, "MS_MOVE"), (16384, "MS_REC"), (32768, "MS_SILENT"),
         (1 << 16, "MS_POSIXACL"), (1 << 17, "MS_UNBINDABLE"), (1 << 18, "MS_PRIVATE"), (1 << 19, "MS_SLAVE"),
         (1 << 20, "MS_SHARED"), (1 << 21, "MS_RELATIME"), (1 << 22, "MS_KERNMOUNT"), (1 << 23, "MS_I_VERSION"),
         (1 << 24, "MS_STRICTATIME")]
SIGNALFD = [(0o4000, "SFD_NONBLOCK"), (0o2000000, "SFD_CLOEXEC")]
MLOCK2 = [(1, "MLOCK_ONFAULT")]
PREADV2 = [(1, "RWF_HIPRI")]
SYNC_FILE_RANGE = [(1, "SYNC_FILE_RANGE_WAIT_BEFORE"), (2, "SYNC_FILE_RANGE_WRITE"), (4, "SYNC_FILE_RANGE_WAIT_AFTER")]
FALLOCATE = [(1, "FALLOC_FL_KEEP_SIZE"), (2, "FALLOC_FL_PUNCH_HOLE"), (4, "FALLOC_FL_NO_HIDE_STALE"),
             (8, "FALLOC_FL_COLLAPSE_RANGE"), (0x10, "FALLOC_FL_ZERO_RANGE")]
KCMP = [(0, "KCMP_FILE"), (1, "KCMP_VM"), (2, "KCMP_FILES"), (3, "KCMP_FS"), (4, "KCMP_SIGHAND"), (5, "KCMP_IO"),
        (6, "KCMP_SYSVSEM"), (8, "KCMP_TYPES")]
MEMBARRIER = [(0, "MEMBARRIER_CMD_QUERY"), (1, "MEMBARRIER_CMD_SHARED")]
INOTIFY_MASK = [(1, "IN_ACCESS"), (2, "IN_MODIFY"), (4, "IN_ATTRIB"), (8, "IN_CLOSE_WRITE"), (0x10, "IN_CLOSE_NOWRITE"),
                (0x20, "IN_OPEN"), (0x40, "IN_MOVED_FROM"), (0x80, "IN_MOVED_TO"), (0x100, "IN_CREATE"),
                (0x200, "IN_DELETE"), (0x400, "IN_DELETE_SELF"), (0x800, "IN_MOVE_SELF"), (0x2000, "IN_UNMOUNT"),
                (0x4000, "IN_Q_OVERFLOW"), (0x8000, "IN_IGNORED"), (0x01000000, "IN_ONLYDIR"),
                (0x02000000, "IN_DONT_FOLLOW"), (0x04000000, "IN_EXCL_UNLINK"), (0x20000000, "IN_MASK_ADD"),
                (0x40000000, "IN_ISDIR"), (0x80000000, "IN_ONESHOT")]
SOCKOPT_LEVEL = [(0, "SOL_IP"), (1, "SOL_SOCKET"), (6, "SOL_TCP"), (17, "SOL_UDP"), (41, "SOL_IPV6"),
                 (58, "SOL_ICMPV6"), (132, "SOL_SCTP"), (136, "SOL_UDPLITE"), (255, "SOL_RAW")] + [
    (256 + i, "SOL_" + n) for i, n in enumerate(
        ["IPX", "AX25", "ATALK", "NETROM", "ROSE", "DECNET", "X25", "PACKET", "ATM", "AAL", "IRDA", "NETBEUI",
         "LLC", "DCCP", "NETLINK", "TIPC", "RXRPC", "PPPOL2TP", "BLUETOOTH", "PNPIPE", "RDS", "IUCV", "CAIF",
         "ALG", "NFC"])]
# The SOL_SOCKET option names in stap's order: the first name of a value wins.
SOCKOPT_NAME = [(1, "SO_DEBUG"), (2, "SO_REUSEADDR"), (3, "SO_TYPE"), (4, "SO_ERROR"), (5, "SO_DONTROUTE"),
                (6, "SO_BROADCAST"), (7, "SO_SNDBUF"), (8, "SO_RCVBUF"), (32, "SO_SNDBUFFORCE"),
                (33, "SO_RCVBUFFORCE"), (9, "SO_KEEPALIVE"), (10, "SO_OOBINLINE"), (11, "SO_NO_CHECK"),
                (12, "SO_PRIORITY"), (13, "SO_LINGER"), (14, "SO_BSDCOMPAT"), (15, "SO_REUSEPORT"),
                (16, "SO_PASSCRED"), (17, "SO_PEERCRED"), (18, "SO_RCVLOWAT"), (19, "SO_SNDLOWAT"),
                (20, "SO_RCVTIMEO"), (21, "SO_SNDTIMEO"), (22, "SO_SECURITY_AUTHENTICATION"),
                (23, "SO_SECURITY_ENCRYPTION_TRANSPORT"), (24, "SO_SECURITY_ENCRYPTION_NETWORK"),
                (25, "SO_BINDTODEVICE"), (26, "SO_ATTACH_FILTER"), (27, "SO_DETACH_FILTER"), (28, "SO_PEERNAME"),
                (29, "SO_TIMESTAMP"), (30, "SO_ACCEPTCONN"), (31, "SO_PEERSEC"), (34, "SO_PASSSEC"),
                (35, "SO_TIMESTAMPNS"), (36, "SO_MARK"), (37, "SO_TIMESTAMPING"), (38, "SO_PROTOCOL"),
                (39, "SO_DOMAIN"), (40, "SO_RXQ_OVFL"), (41, "SO_WIFI_STATUS"), (42, "SO_PEEK_OFF"),
                (43, "SO_NOFCS"), (44, "SO_LOCK_FILTER"), (45, "SO_SELECT_ERR_QUEUE"), (46, "SO_BUSY_POLL"),
                (47, "SO_MAX_PACING_RATE"), (48, "SO_BPF_EXTENSIONS"), (49, "SO_INCOMING_CPU"),
                (50, "SO_ATTACH_BPF"), (51, "SO_ATTACH_REUSEPORT_CBPF"), (52, "SO_ATTACH_REUSEPORT_EBPF"),
                (53, "SO_CNX_ADVICE"), (54, "SCM_TIMESTAMPING_OPT_STATS"), (55, "SO_MEMINFO"),
                (56, "SO_INCOMING_NAPI_ID"), (57, "SO_COOKIE"), (58, "SCM_TIMESTAMPING_PKTINFO"),
                (59, "SO_PEERGROUPS"), (60, "SO_ZEROCOPY"), (61, "SO_TXTIME"), (62, "SO_BINDTOIFINDEX"),
                (63, "SO_TIMESTAMP_NEW"), (64, "SO_TIMESTAMPNS_NEW"), (65, "SO_TIMESTAMPING_NEW"),
                (66, "SO_RCVTIMEO_NEW"), (67, "SO_SNDTIMEO_NEW")]
SHMGET = [(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL"), (0o4000, "SHM_HUGETLB"), (0o10000, "SHM_NORESERVE")]
MSGFLG = [(0o10000, "MSG_NOERROR"), (0o20000, "MSG_EXCEPT"), (0o4000, "IPC_NOWAIT")]
SHMAT = [(0o10000, "SHM_RDONLY"), (0o20000, "SHM_RND"), (0o40000, "SHM_REMAP"), (0o100000, "SHM_EXEC")]
SIGALTSTACK = [(1, "SS_ONSTACK"), (2, "SS_DISABLE")]
SEMCTL = [(3, "IPC_INFO"), (19, "SEM_INFO"), (18, "SEM_STAT"), (13, "GETALL"), (12, "GETVAL"), (11, "GETPID"),
          (14, "GETNCNT"), (15, "GETZCNT"), (2, "IPC_STAT"), (16, "SETVAL"), (17, "SETALL"), (0, "IPC_RMID"),
          (1, "IPC_SET")]
SECCOMP_OP = [(0, "SECCOMP_SET_MODE_STRICT"), (1, "SECCOMP_SET_MODE_FILTER")]
SECCOMP_FLAGS = [(1, "SECCOMP_FILTER_FLAG_TSYNC")]
IOPRIO_CLASS = [(0, "IOPRIO_CLASS_NONE"), (1, "IOPRIO_CLASS_RT"), (2, "IOPRIO_CLASS_BE"), (3, "IOPRIO_CLASS_IDLE")]
FACCESSAT2 = [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS")]
SHUTDOWN = [(0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")]


def lookup(name, doc, items, wide=False):
    """Exact match, else the value in hex (stap's _stp_lookup_str); of the
    value as an unsigned int, or (wide) as an unsigned long."""
    out = [f"/** {doc} */", f"function {name}:string (v:long) {{"]
    if not wide:
        out.append("  v = v & 0xffffffff")
    tests = [f'if (v == {val}) return "{s}"' for val, s in items]
    for i in range(0, len(tests), 4):
        out.append("  " + "; ".join(tests[i:i + 4]))
    out.append('  return sprintf("0x%x", v)')
    out.append("}")
    return "\n".join(out)


def lookup10(name, doc, items):
    """Exact match, else the value in decimal (stap's _stp_lookup_str2 with
    base 10), of the value as an int."""
    out = [f"/** {doc} */", f"function {name}:string (v:long) {{", "  v = __int32(v)"]
    tests = [f'if (v == {val}) return "{s}"' for val, s in items]
    for i in range(0, len(tests), 4):
        out.append("  " + "; ".join(tests[i:i + 4]))
    out.append('  return sprintf("%d", v)')
    out.append("}")
    return "\n".join(out)


def bits(name, items, u32=False):
    """The names of set bits joined with |, what is left in hex, a zero
    as "0x0" (stap's _stp_lookup_or_str); every helper takes the value and
    returns the text. With u32, of the value as an unsigned int."""
    out = [f"function {name}:string (v:long) {{", '  __s = ""']
    if u32:
        out.append("  v = v & 0xffffffff")
    tests = []
    for val, s in items:
        if val == 0:
            # A name for zero: what stap shows for no bit set (F_OK).
            out.append(f'  if (v == 0) return "{s}"')
        else:
            tests.append(f'if (v & {val:#x}) {{ __s .= "|{s}"; v &= ~{val:#x} }}')
    for i in range(0, len(tests), 2):
        out.append("  " + " ".join(tests[i:i + 2]))
    out.append('  if (v) __s .= sprintf("|0x%x", v)')
    out.append('  if (__s == "") return "0x0"')
    out.append("  return substr(__s, 1, strlen(__s) - 1)")
    out.append("}")
    return "\n".join(out)


parts = ["""// Decoders of the syscall tapset: flags and enums of x86_64 as the
// syscall probes' argstr shows them (`O_RDONLY|O_CLOEXEC`,
// `PROT_READ|PROT_WRITE`, `SIGUSR1`, `AT_FDCWD`, ...). Unknown bits and
// values print in hex, as stap prints them. Written in the script language
// so that they run in kernel handlers too.
//
// Generated by tools/gen_syscall_decoders.py; edit the lists there.
"""]
parts.append(bits("__open_flag_bits", OPEN))
parts.append("""/** The flags of open and openat: the access mode, then the other flags. */
function _sys_open_flag_str:string (f:long) {
  f = f & 0xffffffff
  __acc = f & 3
  __s = __acc == 1 ? "O_WRONLY" : __acc == 2 ? "O_RDWR" : "O_RDONLY"
  f = f & ~3
  if (f) __s .= "|" . __open_flag_bits(f)
  return __s
}""")
parts.append("/** Flags of dup3 and others that take open's flags without an access mode. */\n"
             "function _dup3_flag_str:string (f:long) {\n  return __open_flag_bits(f & 0xffffffff)\n}")
parts.append(bits("__prot_bits", PROT))
parts.append("/** Protection of mmap and mprotect: PROT_READ|PROT_WRITE, PROT_NONE. */\n"
             "function _mprotect_prot_str:string (prot:long) {\n"
             '  if (prot == 0) return "PROT_NONE"\n  return __prot_bits(prot)\n}')
parts.append(bits("__mmap_bits", MMAP))
parts.append("/** Flags of mmap: MAP_PRIVATE|MAP_ANONYMOUS. */\n"
             "function _mmap_flags:string (flags:long) {\n  return __mmap_bits(flags)\n}")
parts.append(lookup("_signal_name", "A signal's name: SIGKILL, SIG_0.", SIGNALS))
parts.append(bits("__clone_bits", CLONE))
parts.append("""/** clone's flags as stap's __fork_flags shows them: the CLONE_ flags,
 *  then the exit signal: CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD,
 *  0x0|SIGCHLD. */
function __fork_flags:string (flags:long) {
  __s = __clone_bits(flags & ~0xff)
  if (flags & 0xff) __s .= "|" . _signal_name(flags & 0xff)
  return __s
}""")
parts.append(lookup("_futex_op_str", "futex's operation: FUTEX_WAIT_PRIVATE.", FUTEX))
parts.append(lookup("__futex_wake_op_name", "The operation of FUTEX_WAKE_OP: FUTEX_OP_SET.", FUTEX_WAKE_OPS))
parts.append(lookup("__futex_wake_cmp_name", "The comparison of FUTEX_WAKE_OP: FUTEX_OP_CMP_EQ.", FUTEX_WAKE_CMPS))
parts.append(lookup("_prctl_option_str", "prctl's option: PR_SET_NAME.", PRCTL))
for fn, doc, items in [("__prctl_unalign_str", "PR_SET_UNALIGN's argument.", PR_UNALIGN),
                       ("__prctl_fpemu_str", "PR_SET_FPEMU's argument.", PR_FPEMU),
                       ("__prctl_fpexc_str", "PR_SET_FPEXC's argument.", PR_FPEXC),
                       ("__prctl_timing_str", "PR_SET_TIMING's argument.", PR_TIMING),
                       ("__prctl_endian_str", "PR_SET_ENDIAN's argument.", PR_ENDIAN),
                       ("__prctl_tsc_str", "PR_SET_TSC's argument.", PR_TSC),
                       ("__prctl_mce_kill_str", "PR_MCE_KILL's argument.", PR_MCE_KILL),
                       ("__prctl_mce_kill2_str", "PR_MCE_KILL_SET's policy.", PR_MCE_KILL2),
                       ("__prctl_mm_str", "PR_SET_MM's field.", PR_MM),
                       ("__seccomp_mode_str", "A seccomp mode: SECCOMP_MODE_FILTER.", SECCOMP_MODE),
                       ("__capability_str", "A capability: CAP_SYS_ADMIN.", CAPS)]:
    parts.append(lookup(fn, doc, items, wide=True))
parts.append(bits("__securebits_str", SECUREBITS))
parts.append(bits("__sa_flags_str", SA_FLAGS))
ss = ["/** A signal set (a sigset_t's 64 bits) as stap's _stp_sigset_str shows it: the",
      " *  named signals in it, [SIGINT|SIGTERM], or [EMPTY]. */",
      "function __sigset_str:string (m:long) {", '  __s = ""']
for val, n in SIGNALS:
    if 0 < val <= 64:
        ss.append(f'  if (m & {1 << (val - 1):#x}) __s .= "|{n}"')
ss.append('  if (__s == "") return "[EMPTY]"')
ss.append('  return "[" . substr(__s, 1, strlen(__s) - 1) . "]"\n}')
parts.append("\n".join(ss))
parts.append(bits("__msg_flag_bits", MSG_FLAGS))
parts.append("/** The flags of send and recv calls: MSG_PEEK|MSG_DONTWAIT (MSG_CMSG_COMPAT left out, as stap does). */\n"
             "function _msg_flags_str:string (flags:long) {\n  return __msg_flag_bits(flags & ~0x80000000)\n}")
parts.append(bits("__sock_flag_bits", SOCK_FLAGS))
parts.append("/** The flags of accept4 and others: SOCK_CLOEXEC|SOCK_NONBLOCK. */\n"
             "function _sock_flags_str:string (f:long) {\n  return __sock_flag_bits(f & 0xffffffff)\n}")
parts.append(lookup("_fcntl_cmd_str", "A command of fcntl: F_GETFL.", FCNTL))
parts.append(lookup("_seek_whence_str", "lseek's whence: SEEK_SET.", WHENCE))
parts.append(bits("_at_flag_str", ATFLAG))
parts.append(lookup("_statx_mask_str", "statx's mask, as stap shows it: by the AT_STATX_ values.", STATX_MASK))
parts.append(bits("_sys_pipe2_flag_str", PIPE2))
parts.append(lookup("_get_wc_str", "A clock's id: CLOCK_MONOTONIC.", CLOCKS))
parts.append(lookup("_stp_clock_nanosleep_flags_str", "The flags of clock_nanosleep: TIMER_ABSTIME.", NANOSLEEP))
parts.append(bits("_renameat2_flags_str", RENAME))
parts.append(lookup("_sock_family_str", "A socket's family: PF_INET, PF_LOCAL.", FAMILY))
st = ["/** A socket's type with its flags: SOCK_STREAM|SOCK_CLOEXEC. */",
      "function _sock_type_str:string (type:long) {",
      "  __t = type & 0xf", "  __flags = type & 0xffffffff & ~0xf", '  __s = ""']
for val, n in SOCKTYPE:
    st.append(f'  if (__t == {val}) {{ __s = "{n}"; __t = 0 }}')
st.append('  if (__flags & 0x80000) { __s .= (__s == "" ? "" : "|") . "SOCK_CLOEXEC"; __flags &= ~0x80000 }')
st.append('  if (__flags & 0x800) { __s .= (__s == "" ? "" : "|") . "SOCK_NONBLOCK"; __flags &= ~0x800 }')
st.append("  __t = __t | __flags")
st.append('  if (__t != 0 || __s == "") __s .= (__s == "" ? "" : "|") . sprintf("0x%x", __t)')
st.append("  return __s\n}")
parts.append("\n".join(st))
pr = ["/** A socket's protocol, by name for PF_INET and PF_INET6, else in decimal. */",
      "function _sock_protocol_str:string (family:long, protocol:long) {",
      "  if (family == 2 || family == 10) {"]
for val, n in IPPROTO:
    pr.append(f'    if (protocol == {val}) return "{n}"')
pr.append("  }")
pr.append('  return sprintf("%d", protocol)\n}')
parts.append("\n".join(pr))
parts.append('/** A directory fd of the *at calls: AT_FDCWD, else the number. */\n'
             'function _dfd_str:string (d:long) {\n  if (d == -100) return "AT_FDCWD"\n'
             '  return sprint(d)\n}')
parts.append(bits("_access_mode_str", ACCESS_MODE))
parts.append(bits("_faccessat2_flags_str", FACCESSAT2))
parts.append(lookup("__semctl_cmd_name", "A command of semctl and shmctl without IPC_64: IPC_RMID.", SEMCTL))
parts.append("""/** A command of semctl and shmctl as stap's _semctl_cmd shows it:
 *  IPC_64|IPC_STAT, IPC_RMID. */
function _semctl_cmd:string (cmd:long) {
  __c = cmd & 0xffffffff
  if (__c & 0x100)
    return "IPC_64|" . __semctl_cmd_name(__c & ~0x100)
  return __semctl_cmd_name(__c)
}""")
parts.append(lookup("_seccomp_op_str", "seccomp's operation: SECCOMP_SET_MODE_FILTER.", SECCOMP_OP))
parts.append(bits("_seccomp_flags_str", SECCOMP_FLAGS))
parts.append(lookup("__ioprio_class_name", "An I/O priority class: IOPRIO_CLASS_BE.", IOPRIO_CLASS))
parts.append("""/** ioprio_get's and ioprio_set's which: IOPRIO_WHO_PROCESS, else in decimal. */
function _stp_ioprio_which_str:string (which:long) {
  __w = __int32(which)
  if (__w == 1) return "IOPRIO_WHO_PROCESS"
  if (__w == 2) return "IOPRIO_WHO_PGRP"
  if (__w == 3) return "IOPRIO_WHO_USER"
  return sprintf("%d", __w)
}""")
parts.append("""/** An I/O priority as stap's _stp_ioprio_value_str shows it: its class,
 *  then its data: IOPRIO_CLASS_BE|4. */
function _stp_ioprio_value_str:string (value:long) {
  __v = value & 0xffffffff
  return __ioprio_class_name(__v >> 13) . sprintf("|%d", __int32(value) & 0x1fff)
}""")
parts.append(bits("__shmget_flag_bits", SHMGET))
parts.append(bits("_stp_msgflg_str", MSGFLG))
parts.append(bits("_shmat_flags_str", SHMAT))
parts.append(lookup("__sigaltstack_flag_name", "A stack_t's ss_flags: SS_DISABLE.", SIGALTSTACK))
parts.append(lookup("_sockopt_level_str", "A socket option's level: SOL_SOCKET, SOL_TCP.", SOCKOPT_LEVEL))
parts.append(lookup("_sockopt_optname_str", "A socket option's name, by the SOL_SOCKET names as stap shows it: SO_REUSEADDR.",
                    SOCKOPT_NAME))
parts.append(bits("_preadv2_flags_str", PREADV2))
parts.append(bits("_sync_file_range_flags_str", SYNC_FILE_RANGE))
parts.append(bits("_stp_fallocate_mode_str", FALLOCATE))
parts.append(lookup("_kcmp_type_str", "kcmp's type: KCMP_FILE.", KCMP))
parts.append(lookup("_membarrier_cmd_str", "membarrier's command: MEMBARRIER_CMD_QUERY.", MEMBARRIER))
parts.append(bits("_inotify_watch_mask_str", INOTIFY_MASK))
parts.append(bits("__timerfd_flag_bits", TIMERFD))
parts.append("/** The flags of timerfd_create and timerfd_settime: TFD_CLOEXEC|TFD_NONBLOCK. */\n"
             "function _stp_timerfd_flags_str:string (f:long) {\n  return __timerfd_flag_bits(f & 0xffffffff)\n}")
parts.append(bits("_mfd_flags_str", MFD))
parts.append(bits("_getrandom_flags_str", GETRANDOM))
parts.append(bits("_umountflags_str", UMOUNT))
parts.append(bits("_stp_splice_flags_str", SPLICE))
parts.append(bits("_mountflags_str", MOUNT))
parts.append(bits("_signalfd4_flags_str", SIGNALFD))
parts.append(bits("_stp_mlock2_str", MLOCK2))
parts.append(bits("_flock_cmd_str", FLOCK))
parts.append(lookup("_rlimit_resource_str", "A resource of getrlimit and setrlimit: RLIMIT_NOFILE.", RLIMIT))
parts.append(lookup("_madvice_advice_str", "madvise's advice: MADV_DONTNEED.", MADVISE))
parts.append(lookup("_fadvice_advice_str", "fadvise64's advice: POSIX_FADV_SEQUENTIAL.", FADVISE))
parts.append(bits("_mlockall_flags_str", MLOCKALL))
parts.append(bits("_msync_flag_str", MSYNC))
parts.append(bits("_wait4_opt_str", WAIT4))
parts.append(lookup("_waitid_which_str", "waitid's idtype: P_PID.", WAITID_WHICH))
parts.append(lookup("_itimer_which_str", "An interval timer: ITIMER_REAL.", ITIMER))
parts.append(lookup("_rusage_who_str", "getrusage's who: RUSAGE_SELF.", RUSAGE))
parts.append(lookup("_priority_which_str", "getpriority's which: PRIO_PROCESS.", PRIO_WHICH))
parts.append(lookup("__sched_policy_name", "A scheduling policy without its flags: SCHED_FIFO.", SCHED_POLICY))
parts.append("""/** A scheduling policy: SCHED_RR, SCHED_RESET_ON_FORK|SCHED_FIFO. */
function _sched_policy_str:string (policy:long) {
  __p = policy & 0xffffffff
  if (__p > 0 && __p < 0x80000000 && (__p & 0x40000000))
    return "SCHED_RESET_ON_FORK|" . __sched_policy_name(__p & ~0x40000000)
  return __sched_policy_name(__p)
}""")
parts.append(bits("_mremap_flags", MREMAP))
parts.append(bits("_eventfd2_flag_str", EVENTFD))
parts.append(bits("_inotify_init1_flag_str", INOTIFY_INIT))
parts.append(bits("_epoll_create1_flag_str", EPOLL_CREATE))
parts.append(lookup("_opoll_op_str", "epoll_ctl's operation: EPOLL_CTL_ADD.", EPOLL_OP))
parts.append(lookup("_shutdown_how_str", "shutdown's how: SHUT_RDWR.", SHUTDOWN))
parts.append("""/** rt_sigprocmask's how: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK, else in hex. */
function _sigprocmask_how_str:string (how:long) {
  if (how == 0) return "SIG_BLOCK"
  if (how == 1) return "SIG_UNBLOCK"
  if (how == 2) return "SIG_SETMASK"
  return sprintf("0x%x", how)
}""")
open("stdlib/linux/syscalls_decode.stp", "w").write("\n\n".join(parts) + "\n")

parts = ["""// More decoders of the syscall tapset (memory policies, extended
// attributes, fanotify, ptrace, siginfo codes, reboot, bpf, perf, ...),
// x86_64 values, as the syscall probes' argstr shows them.
//
// Generated by tools/gen_syscall_decoders.py; edit the lists there.
"""]
BPF_CMD = [(0, "BPF_MAP_CREATE"), (1, "BPF_MAP_LOOKUP_ELEM"), (2, "BPF_MAP_UPDATE_ELEM"), (3, "BPF_MAP_DELETE_ELEM"),
           (4, "BPF_MAP_GET_NEXT_KEY"), (5, "BPF_PROG_LOAD")]
ADJ_MODES = [(0x0001, "ADJ_OFFSET"), (0x0002, "ADJ_FREQUENCY"), (0x0004, "ADJ_MAXERROR"), (0x0008, "ADJ_ESTERROR"),
             (0x0010, "ADJ_STATUS"), (0x0020, "ADJ_TIMECONST"), (0x4000, "ADJ_TICK"),
             (0x8001, "ADJ_OFFSET_SINGLESHOT")]
FAN_CLASS = [(0, "FAN_CLASS_NOTIF"), (4, "FAN_CLASS_CONTENT"), (8, "FAN_CLASS_PRE_CONTENT")]
FAN_INIT_EXTRA = [(1, "FAN_CLOEXEC"), (2, "FAN_NONBLOCK"), (0x10, "FAN_UNLIMITED_QUEUE"),
                  (0x20, "FAN_UNLIMITED_MARKS")]
FAN_MARK = [(1, "FAN_MARK_ADD"), (2, "FAN_MARK_REMOVE"), (0x80, "FAN_MARK_FLUSH"), (4, "FAN_MARK_DONT_FOLLOW"),
            (8, "FAN_MARK_ONLYDIR"), (0x10, "FAN_MARK_MOUNT"), (0x20, "FAN_MARK_IGNORED_MASK"),
            (0x40, "FAN_MARK_IGNORED_SURV_MODIFY")]
FAN_MASK = [(1, "FAN_ACCESS"), (2, "FAN_MODIFY"), (8, "FAN_CLOSE_WRITE"), (0x10, "FAN_CLOSE_NOWRITE"),
            (0x20, "FAN_OPEN"), (0x4000, "FAN_Q_OVERFLOW"), (0x10000, "FAN_OPEN_PERM"), (0x20000, "FAN_ACCESS_PERM"),
            (0x40000000, "FAN_ONDIR"), (0x08000000, "FAN_EVENT_ON_CHILD")]
XATTR = [(1, "XATTR_CREATE"), (2, "XATTR_REPLACE")]
MPOL_FLAGS = [(1, "MPOL_F_NODE"), (2, "MPOL_F_ADDR"), (4, "MPOL_F_MEMS_ALLOWED")]
MPOL_MODE_FLAGS = [(1 << 15, "MPOL_F_STATIC_NODES"), (1 << 14, "MPOL_F_RELATIVE_NODES")]
MPOL_MODE = [(0, "MPOL_DEFAULT"), (1, "MPOL_PREFERRED"), (2, "MPOL_BIND"), (3, "MPOL_INTERLEAVE"), (4, "MPOL_LOCAL")]
MSGCTL = [(3, "IPC_INFO"), (2, "IPC_STAT"), (0, "IPC_RMID"), (1, "IPC_SET"), (12, "MSG_INFO"), (11, "MSG_STAT")]
PERF_FLAGS = [(1, "PERF_FLAG_FD_NO_GROUP"), (2, "PERF_FLAG_FD_OUTPUT"), (4, "PERF_FLAG_PID_CGROUP"),
              (8, "PERF_FLAG_FD_CLOEXEC")]
PKEY = [(1, "PKEY_DISABLE_ACCESS"), (2, "PKEY_DISABLE_WRITE")]
REBOOT_MAGIC = [(0xfee1dead, "LINUX_REBOOT_MAGIC1"), (672274793, "LINUX_REBOOT_MAGIC2"),
                (85072278, "LINUX_REBOOT_MAGIC2A"), (369367448, "LINUX_REBOOT_MAGIC2B"),
                (537993216, "LINUX_REBOOT_MAGIC2C")]
REBOOT_CMD = [(0x01234567, "LINUX_REBOOT_CMD_RESTART"), (0xCDEF0123, "LINUX_REBOOT_CMD_HALT"),
              (0x89ABCDEF, "LINUX_REBOOT_CMD_CAD_ON"), (0, "LINUX_REBOOT_CMD_CAD_OFF"),
              (0x4321FEDC, "LINUX_REBOOT_CMD_POWER_OFF"), (0xA1B2C3D4, "LINUX_REBOOT_CMD_RESTART2"),
              (0xD000FCE2, "LINUX_REBOOT_CMD_SW_SUSPEND"), (0x45584543, "LINUX_REBOOT_CMD_KEXEC")]
SWAPON = [(0x8000, "SWAP_FLAG_PREFER"), (0x10000, "SWAP_FLAG_DISCARD"), (0x20000, "SWAP_FLAG_DISCARD_ONCE"),
          (0x40000, "SWAP_FLAG_DISCARD_PAGES")]
UFFD = [(0o4000, "O_NONBLOCK"), (0o2000000, "O_CLOEXEC")]
PTRACE_REQ = [(0, "PTRACE_TRACEME"), (1, "PTRACE_PEEKTEXT"), (2, "PTRACE_PEEKDATA"), (3, "PTRACE_PEEKUSR"),
              (4, "PTRACE_POKETEXT"), (5, "PTRACE_POKEDATA"), (6, "PTRACE_POKEUSR"), (7, "PTRACE_CONT"),
              (8, "PTRACE_KILL"), (9, "PTRACE_SINGLESTEP"), (16, "PTRACE_ATTACH"), (17, "PTRACE_DETACH"),
              (24, "PTRACE_SYSCALL"), (0x4200, "PTRACE_SETOPTIONS"), (0x4201, "PTRACE_GETEVENTMSG"),
              (0x4202, "PTRACE_GETSIGINFO"), (0x4203, "PTRACE_SETSIGINFO"), (0x4204, "PTRACE_GETREGSET"),
              (0x4205, "PTRACE_SETREGSET"), (0x4206, "PTRACE_SEIZE"), (0x4207, "PTRACE_INTERRUPT"),
              (0x4208, "PTRACE_LISTEN"), (0x4209, "PTRACE_PEEKSIGINFO"), (0x420a, "PTRACE_GETSIGMASK"),
              (0x420b, "PTRACE_SETSIGMASK")]
PTRACE_ARCH_REQ = [(12, "PTRACE_GETREGS"), (13, "PTRACE_SETREGS"), (14, "PTRACE_GETFPREGS"), (15, "PTRACE_SETFPREGS"),
                   (18, "PTRACE_GETFPXREGS"), (19, "PTRACE_SETFPXREGS"), (21, "PTRACE_OLDSETOPTIONS"),
                   (25, "PTRACE_GET_THREAD_AREA"), (26, "PTRACE_SET_THREAD_AREA"), (30, "PTRACE_ARCH_PRCTL"),
                   (31, "PTRACE_SYSEMU"), (32, "PTRACE_SYSEMU_SINGLESTEP"), (33, "PTRACE_SINGLEBLOCK")]
PTRACE_OPTIONS = [(1 << 20, "PTRACE_O_EXITKILL"), (8, "PTRACE_O_TRACECLONE"), (0x10, "PTRACE_O_TRACEEXEC"),
                  (0x40, "PTRACE_O_TRACEEXIT"), (2, "PTRACE_O_TRACEFORK"), (1, "PTRACE_O_TRACESYSGOOD"),
                  (4, "PTRACE_O_TRACEVFORK"), (0x20, "PTRACE_O_TRACEVFORKDONE"), (0x80, "PTRACE_O_TRACESECCOMP")]
ARCH_PRCTL = [(0x1001, "ARCH_SET_GS"), (0x1002, "ARCH_SET_FS"), (0x1003, "ARCH_GET_FS"), (0x1004, "ARCH_GET_GS")]
# arch_prctl's codes in stap's order (its lookup shows unknown ones in decimal).
ARCH_PRCTL_FUNC = [(0x1002, "ARCH_SET_FS"), (0x1003, "ARCH_GET_FS"), (0x1001, "ARCH_SET_GS"), (0x1004, "ARCH_GET_GS")]
# TIME_BAD is TIME_ERROR's other name: the first wins.
TIME_STATES = [(0, "TIME_OK"), (1, "TIME_INS"), (2, "TIME_DEL"), (3, "TIME_OOP"), (4, "TIME_WAIT"), (5, "TIME_ERROR")]
ELF_NOTES = [(1, "NT_PRSTATUS"), (2, "NT_PRFPREG"), (3, "NT_PRPSINFO"), (4, "NT_TASKSTRUCT"), (6, "NT_AUXV"),
             (0x53494749, "NT_SIGINFO"), (0x46494c45, "NT_FILE"), (0x46e62b7f, "NT_PRXFPREG"), (0x100, "NT_PPC_VMX"),
             (0x101, "NT_PPC_SPE"), (0x102, "NT_PPC_VSX"), (0x200, "NT_386_TLS"), (0x201, "NT_386_IOPERM"),
             (0x202, "NT_X86_XSTATE")] + [(0x300 + i, "NT_S390_" + n) for i, n in enumerate(
                 ["HIGH_GPRS", "TIMER", "TODCMP", "TODPREG", "CTRS", "PREFIX", "LAST_BREAK", "SYSTEM_CALL", "TDB",
                  "VXRS_LOW", "VXRS_HIGH"])] + [
             (0x400, "NT_ARM_VFP"), (0x401, "NT_ARM_TLS"), (0x402, "NT_ARM_HW_BREAK"), (0x403, "NT_ARM_HW_WATCH"),
             (0x404, "NT_ARM_SYSTEM_CALL"), (0x500, "NT_METAG_CBUF"), (0x501, "NT_METAG_RPIPE"),
             (0x502, "NT_METAG_TLS")]
SI_CODE = [(0, "SI_USER"), (0x80, "SI_KERNEL"), (-1, "SI_QUEUE"), (-2, "SI_TIMER"), (-3, "SI_MESGQ"),
           (-4, "SI_ASYNCIO"), (-5, "SI_SIGIO"), (-6, "SI_TKILL"), (-7, "SI_DETHREAD")]
SI_CODES_BY_SIGNAL = [
    (4, [(i + 1, "ILL_" + n) for i, n in enumerate(
        ["ILLOPC", "ILLOPN", "ILLADR", "ILLTRP", "PRVOPC", "PRVREG", "COPROC", "BADSTK"])]),
    (8, [(i + 1, "FPE_" + n) for i, n in enumerate(
        ["INTDIV", "INTOVF", "FLTDIV", "FLTOVF", "FLTUND", "FLTRES", "FLTINV", "FLTSUB"])]),
    (11, [(1, "SEGV_MAPERR"), (2, "SEGV_ACCERR"), (3, "SEGV_BNDERR")]),
    (7, [(1, "BUS_ADRALN"), (2, "BUS_ADRERR"), (3, "BUS_OBJERR"), (4, "BUS_MCEERR_AR"), (5, "BUS_MCEERR_AO")]),
    (5, [(1, "TRAP_BRKPT"), (2, "TRAP_TRACE"), (3, "TRAP_BRANCH"), (4, "TRAP_HWBKPT")]),
    (17, [(i + 1, "CLD_" + n) for i, n in enumerate(["EXITED", "KILLED", "DUMPED", "TRAPPED", "STOPPED", "CONTINUED"])]),
    (29, [(i + 1, "POLL_" + n) for i, n in enumerate(["IN", "OUT", "MSG", "ERR", "PRI", "HUP"])]),
    (31, [(1, "SYS_SECCOMP")]),
]

parts.append(lookup("_bpf_cmd_str", "bpf's command: BPF_MAP_CREATE.", BPF_CMD, wide=True))
parts.append(bits("__adjtimex_mode_bits", ADJ_MODES, u32=True))
parts.append(lookup("__fanotify_class_name", "fanotify_init's notification class: FAN_CLASS_NOTIF.", FAN_CLASS))
parts.append(bits("__fanotify_init_extra_bits", FAN_INIT_EXTRA))
parts.append("""/** fanotify_init's flags: the notification class, then the other flags:
 *  FAN_CLASS_NOTIF|FAN_CLOEXEC|FAN_NONBLOCK. */
function _fanotify_init_flags_str:string (flags:long) {
  __f = flags & 0xffffffff
  __s = __fanotify_class_name(__f & 0xc)
  if (__f & ~0xc) __s .= "|" . __fanotify_init_extra_bits(__f & ~0xc)
  return __s
}""")
parts.append(bits("_fanotify_mark_flags_str", FAN_MARK, u32=True))
parts.append(bits("_fanotify_mark_mask_str", FAN_MASK))
parts.append(bits("_stp_xattr_flags_str", XATTR, u32=True))
parts.append(bits("_mempolicy_flags_str", MPOL_FLAGS))
parts.append(lookup("__mempolicy_mode_flag_name", "A memory policy's mode flags: MPOL_F_STATIC_NODES.", MPOL_MODE_FLAGS))
parts.append(lookup("__mempolicy_mode_name", "A memory policy's mode: MPOL_BIND.", MPOL_MODE))
parts.append("""/** A memory policy's mode as stap's _mempolicy_mode_str shows it: its
 *  mode flags (MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES and
 *  MPOL_F_NUMA_BALANCING, looked up together), then the mode:
 *  MPOL_F_STATIC_NODES|MPOL_BIND, MPOL_DEFAULT. */
function _mempolicy_mode_str:string (mode:long) {
  __m = mode & 0xffffffff
  __s = ""
  if (__m != 0xffffffff && (__m & 0xe000)) {
    __s = __mempolicy_mode_flag_name(__m & 0xe000) . "|"
    __m &= ~0xe000
  }
  return __s . __mempolicy_mode_name(__m)
}""")
parts.append(lookup("__msgctl_cmd_name", "A command of msgctl without IPC_64: IPC_STAT.", MSGCTL))
parts.append("""/** A command of msgctl: IPC_64|IPC_STAT, IPC_RMID. */
function _stp_msgctl_cmd_str:string (cmd:long) {
  __c = cmd & 0xffffffff
  if (__c & 0x100)
    return "IPC_64|" . __msgctl_cmd_name(__c & ~0x100)
  return __msgctl_cmd_name(__c)
}""")
parts.append(bits("_perf_event_open_flags_str", PERF_FLAGS))
parts.append(bits("_pkey_alloc_init_val_str", PKEY, u32=True))
parts.append(lookup("_reboot_magic_str", "A magic number of reboot: LINUX_REBOOT_MAGIC1.", REBOOT_MAGIC))
parts.append(lookup("_reboot_flag_str", "reboot's command: LINUX_REBOOT_CMD_CAD_ON.", REBOOT_CMD))
parts.append(bits("__swapon_flag_bits", SWAPON))
parts.append("""/** swapon's flags: SWAP_FLAG_DISCARD, SWAP_FLAG_PREFER|5 (the priority
 *  follows when SWAP_FLAG_PREFER is set). */
function _swapon_flags_str:string (flags:long) {
  __f = flags & 0xffffffff
  __s = __swapon_flag_bits(__f & ~0x7fff)
  if (flags & 0x8000) __s .= sprintf("|%d", __f & 0x7fff)
  return __s
}""")
parts.append(bits("_userfaultfd_flags_str", UFFD, u32=True))
parts.append(lookup("__ptrace_request_str", "A request of ptrace: PTRACE_PEEKDATA.", PTRACE_REQ, wide=True))
parts.append(lookup("__arch_ptrace_request_str", "A request of ptrace of x86: PTRACE_GETREGS.", PTRACE_ARCH_REQ,
                    wide=True))
parts.append(bits("_ptrace_options_str", PTRACE_OPTIONS))
parts.append(lookup("_arch_ptrace_prctl_str", "PTRACE_ARCH_PRCTL's code: ARCH_GET_FS.", ARCH_PRCTL))
parts.append(lookup10("_stp_arch_prctl_func_str", "arch_prctl's code: ARCH_SET_FS.", ARCH_PRCTL_FUNC))
parts.append(lookup10("__adjtimex_state_name", "A clock state adjtimex returns: TIME_OK.", TIME_STATES))
parts.append("""/** adjtimex's result as its retstr shows it: the number, then the clock
 *  state it names: 0 (TIME_OK), 5 (TIME_ERROR), -1 (-1). */
function _adjtimex_return_str:string (ret:long) {
  return sprintf("%d (%s)", __int32(ret), __adjtimex_state_name(ret))
}""")
parts.append(lookup("_stp_elf_notes_str", "A note type of PTRACE_GETREGSET: NT_PRSTATUS.", ELF_NOTES, wide=True))
parts.append(lookup("__siginfo_code_name", "A siginfo's si_code of any signal: SI_QUEUE.", SI_CODE, wide=True))
sc = ["/** A siginfo's si_code as stap's _stp_siginfo_u shows it: by its generic",
      " *  name, else in hex followed by the name it has for signal signo",
      " *  (0x1CLD_EXITED: stap appends that name to the hex it wrote first). */",
      "function __siginfo_code_str:string (signo:long, code:long) {",
      "  __s = __siginfo_code_name(code)",
      '  if (substr(__s, 0, 1) != "0") return __s']
for sig, items in SI_CODES_BY_SIGNAL:
    sc.append(f"  if (signo == {sig}) {{")
    for i in range(0, len(items), 3):
        sc.append("    " + "; ".join(f'if (code == {v}) return __s . "{n}"' for v, n in items[i:i + 3]))
    sc.append('    return __s . sprintf("0x%x", code)\n  }')
sc.append("  return __s\n}")
parts.append("\n".join(sc))
open("stdlib/linux/syscalls_decode2.stp", "w").write("\n\n".join(parts) + "\n")
