/* Makes system calls whose arguments it knows, between two markers
 * (close(-1000) and close(-1001)), and writes to the file named by argv[1]
 * the line the syscall tapset should show for each, in stap's format:
 * name(argstr) = retstr. Calls go through syscall(2) so that the arguments
 * are exactly those written here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/times.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/timex.h>
#include <asm/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static FILE *out;

static const char *ename(long e) {
	return strerrorname_np(e);
}


/* The return value as return_str shows it: errors as "-2 (ENOENT)". */
static void expect(long ret, int hex, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	if (ret == -1)
		fprintf(out, " = %d (%s)\n", -errno, ename(errno));
	else if (hex)
		fprintf(out, " = 0x%lx\n", ret);
	else
		fprintf(out, " = %ld\n", ret);
}

/* name(argstr) with argstr cut to stap's MAXSTRINGLEN (127 characters),
 * as the tapset's strings are. */
static void expect_cut(long ret, const char *name, const char *fmt, ...) {
	char argstr[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(argstr, sizeof argstr, fmt, ap);
	va_end(ap);
	argstr[127] = 0;
	expect(ret, 0, "%s(%s)", name, argstr);
}

/* adjtimex's line: its retstr is the number and the clock state it
 * names, an error as the number twice (no state has its value). */
static void expect_state(long ret, const char *call) {
	static const char *states[] = {"TIME_OK", "TIME_INS", "TIME_DEL", "TIME_OOP", "TIME_WAIT", "TIME_ERROR"};
	_Static_assert(TIME_OK == 0 && TIME_INS == 1 && TIME_DEL == 2 && TIME_OOP == 3 && TIME_WAIT == 4 && TIME_ERROR == 5,
		       "the states in order");
	if (ret == -1)
		fprintf(out, "%s = %d (%d)\n", call, -errno, -errno);
	else if (ret >= 0 && ret <= 5)
		fprintf(out, "%s = %ld (%s)\n", call, ret, states[ret]);
	else
		fprintf(out, "%s = %ld (%ld)\n", call, ret, ret);
}

/* The line the script prints on ptrace's return besides retstr: what
 * stap's geteventmsg_data and arch_prctl_addr hold, the words a
 * PTRACE_GETEVENTMSG or PTRACE_ARCH_PRCTL (ARCH_GET_FS/GS) call's
 * pointer argument points to (0 for other requests). */
static void ptrace_return_vars(long req, long addr, long data) {
	long ev = 0, base = 0;
	if (req == PTRACE_GETEVENTMSG)
		ev = *(long *)data;
	if (req == 30 /* PTRACE_ARCH_PRCTL */ && (data == ARCH_GET_FS || data == ARCH_GET_GS))
		base = *(long *)addr;
	fprintf(out, "ptrace geteventmsg_data=%ld arch_prctl_addr=0x%lx\n", ev, base);
}

/* The line the script prints on wait4's return besides retstr: stap's
 * status_str of the status the call stored (as wait(2)'s macros read
 * it), N/A when it reaped no child. */
static void wait4_return_vars(long ret, const int *status) {
	char s[64];
	int f = status ? *status : 0;
	if (ret <= 0)
		strcpy(s, "N/A");
	else if (!status)
		strcpy(s, "NULL");
	else if (WIFEXITED(f))
		snprintf(s, sizeof s, "WEXITSTATUS=%d", WEXITSTATUS(f));
	else if (WIFSIGNALED(f) && WCOREDUMP(f))
		strcpy(s, "WCOREDUMP");
	else if (WIFSIGNALED(f))
		snprintf(s, sizeof s, "WTERMSIG=SIG%s", sigabbrev_np(WTERMSIG(f)));
	else if (WIFSTOPPED(f))
		snprintf(s, sizeof s, "WSTOPSIG=SIG%s", sigabbrev_np(WSTOPSIG(f)));
	else
		snprintf(s, sizeof s, "?=0x%x", f);
	if (ret > 0 && status && (f >> 16))
		snprintf(s + strlen(s), sizeof s - strlen(s), " | 0x%x", f & ~0xffff);
	fprintf(out, "wait4 status_str=%s\n", s);
}

/* stap's user_buffer_quoted(buf, inlen, outlen) of ASCII bytes, as its
 * runtime's _stp_text_str writes it: quoted, escaped (\n, \", \\, octal),
 * cut when it passes outlen - 2 characters, with "..." unless the first
 * byte that did not fit is a NUL or the last one. */
static const char *buffer_quoted(const unsigned char *in, int inlen, int outlen) {
	static char out[256];
	char *o = out, *esc = NULL;
	int esc_len = 0, c = 0;
	if (inlen <= 0 || inlen > 127)
		inlen = 127;
	outlen = (outlen < 5 ? 5 : outlen) - 2;
	*o++ = '"';
	while (inlen > 0) {
		c = *in;
		if (outlen <= 0)
			break;
		in++;
		inlen--;
		char e[8];
		if (c >= 32 && c <= 126 && c != '"' && c != '\\')
			snprintf(e, sizeof e, "%c", c);
		else if (c && strchr("\a\b\f\n\r\t\v\"\\", c))
			snprintf(e, sizeof e, "\\%c", "abfnrtv\"\\"[strchr("\a\b\f\n\r\t\v\"\\", c) - "\a\b\f\n\r\t\v\"\\"]);
		else
			snprintf(e, sizeof e, "\\%03o", c);
		int num = strlen(e);
		if (num > 1 && !esc && outlen - 3 < num)
			esc = o, esc_len = num;
		if (outlen < num)
			break;
		memcpy(o, e, num);
		o += num;
		outlen -= num;
	}
	if (c && inlen > 0) {
		char *cut = o - 3 + outlen;
		o = esc && esc < cut && cut < esc + esc_len ? esc : cut;
		strcpy(o, "\"...");
	} else
		strcpy(o, "\"");
	return out;
}

/* ctime() as stap's ctime shows seconds since the epoch. */
static const char *stap_ctime(time_t t) {
	static char s[2][64];
	static int i;
	struct tm tm;
	i ^= 1;
	strftime(s[i], sizeof s[i], "%a %b %e %H:%M:%S %Y", gmtime_r(&t, &tm));
	return s[i];
}

int main(int argc, char **argv) {
	char path[256], path2[256], buf[4096];
	long fd, fd2, r;
	if (argc < 3)
		return 2;
	out = fopen(argv[1], "w");
	/* A buffer of ours: stdio would fstat the file to size its own. */
	static char outbuf[1 << 16];
	setvbuf(out, outbuf, _IOFBF, sizeof outbuf);
	snprintf(path, sizeof path, "%s/a", argv[2]);
	snprintf(path2, sizeof path2, "%s/b", argv[2]);
	pid_t pid = getpid(), tid = gettid();
	/* strftime reads the time zone: now, not between the markers. */
	tzset();
	stap_ctime(0);

	r = syscall(SYS_close, -1000);
	expect(r, 0, "close(-1000)");
	/* With a third argument, only the calls of the second part. */
	if (argc > 3)
		goto decoders;

	fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	expect(fd, 0, "openat(AT_FDCWD, \"%s\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0640)", path);
	r = syscall(SYS_write, fd, "hello\n", 6);
	expect(r, 0, "write(%ld, \"hello\\n\", 6)", fd);
	r = syscall(SYS_lseek, fd, 2, SEEK_SET);
	expect(r, 0, "lseek(%ld, 2, SEEK_SET)", fd);
	r = syscall(SYS_lseek, fd, 0, 99);
	expect(r, 0, "lseek(%ld, 0, 0x63)", fd);
	r = syscall(SYS_close, fd);
	expect(r, 0, "close(%ld)", fd);
	fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
	expect(fd, 0, "openat(AT_FDCWD, \"%s\", O_RDONLY)", path);
	r = syscall(SYS_read, fd, buf, 100);
	expect(r, 0, "read(%ld, 0x%lx, 100)", fd, (long)buf);
	r = syscall(SYS_read, -1, buf, 1);
	expect(r, 0, "read(-1, 0x%lx, 1)", (long)buf);
	r = syscall(SYS_openat, AT_FDCWD, "/nonexistent/x", O_RDONLY | O_DIRECTORY);
	expect(r, 0, "openat(AT_FDCWD, \"/nonexistent/x\", O_RDONLY|O_DIRECTORY)");
	r = syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY);
	expect(r, 0, "openat(AT_FDCWD, 0x0, O_RDONLY)");
	fd2 = syscall(SYS_open, path, O_RDWR | O_APPEND | O_NONBLOCK);
	expect(fd2, 0, "open(\"%s\", O_RDWR|O_APPEND|O_NONBLOCK)", path);

	struct stat st;
	r = syscall(SYS_stat, path, &st);
	expect(r, 0, "stat(\"%s\", 0x%lx)", path, (long)&st);
	r = syscall(SYS_fstat, fd2, &st);
	expect(r, 0, "fstat(%ld, 0x%lx)", fd2, (long)&st);
	r = syscall(SYS_newfstatat, AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW);
	expect(r, 0, "fstatat(AT_FDCWD, \"%s\", 0x%lx, AT_SYMLINK_NOFOLLOW)", path, (long)&st);
	r = syscall(SYS_lstat, "/nonexistent/x", &st);
	expect(r, 0, "lstat(\"/nonexistent/x\", 0x%lx)", (long)&st);
	r = syscall(SYS_pwrite64, fd2, "xy", 2, 1);
	expect(r, 0, "pwrite(%ld, \"xy\", 2, 1)", fd2);
	r = syscall(SYS_pread64, fd2, buf, 3, 1);
	expect(r, 0, "pread(%ld, 0x%lx, 3, 1)", fd2, (long)buf);

	/* x86_64's mmap is stap's syscall.mmap2, named "mmap2". */
	long p = syscall(SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect(p, 1, "mmap2(0x0, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
	r = syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, -1, 8192);
	expect(r, 1, "mmap2(0x0, 4096, PROT_READ, MAP_SHARED, -1, 8192)");
	r = syscall(SYS_mprotect, p, 4096, PROT_READ);
	expect(r, 0, "mprotect(0x%lx, 4096, PROT_READ)", p);
	r = syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC | 0x100);
	expect(r, 0, "mprotect(0x%lx, 4096, PROT_READ|PROT_EXEC|0x100)", p);
	r = syscall(SYS_munmap, p, 8192);
	expect(r, 0, "munmap(0x%lx, 8192)", p);
	r = syscall(SYS_mprotect, p, 4096, PROT_NONE);
	expect(r, 0, "mprotect(0x%lx, 4096, PROT_NONE)", p);
	r = syscall(SYS_brk, 0);
	expect(r, 0, "brk(0x0)");

	r = syscall(SYS_kill, pid, 0);
	expect(r, 0, "kill(%d, SIG_0)", pid);
	r = syscall(SYS_kill, 0x7ffffff0, SIGTERM);
	expect(r, 0, "kill(%d, SIGTERM)", 0x7ffffff0);
	r = syscall(SYS_tgkill, pid, tid, 0);
	expect(r, 0, "tgkill(%d, %d, SIG_0)", pid, tid);
	r = syscall(SYS_tgkill, pid, 0x7ffffff0, SIGUSR1);
	expect(r, 0, "tgkill(%d, %d, SIGUSR1)", pid, 0x7ffffff0);

	struct timespec ts = {0, 1000};
	r = syscall(SYS_nanosleep, &ts, NULL);
	expect(r, 0, "nanosleep([0.000001000], 0x0)");
	r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, &ts);
	expect(r, 0, "clock_nanosleep(CLOCK_MONOTONIC, 0x0, [0.000001000], 0x%lx)", (long)&ts);
	r = syscall(SYS_clock_nanosleep, 77, TIMER_ABSTIME, &ts, NULL);
	expect(r, 0, "clock_nanosleep(0x4d, TIMER_ABSTIME, [0.000001000], 0x0)");

	int fds[2] = {-1, -1};
	r = syscall(SYS_pipe2, fds, O_NONBLOCK | O_CLOEXEC);
	expect(r, 0, "pipe2([-1, -1], O_NONBLOCK|O_CLOEXEC)");
	r = syscall(SYS_pipe2, NULL, 0);
	expect(r, 0, "pipe2(NULL)");
	struct statx stx;
	r = syscall(SYS_statx, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
	expect(r, 0, "statx(AT_FDCWD, \"%s\", AT_SYMLINK_NOFOLLOW, 0x7ff, 0x%lx)", path, (long)&stx);

	long s = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	expect(s, 0, "socket(PF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)");
	long u = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	expect(u, 0, "socket(PF_LOCAL, SOCK_DGRAM|SOCK_NONBLOCK, 0)");
	r = syscall(SYS_socket, 4242, SOCK_STREAM, 0);
	expect(r, 0, "socket(0x1092, SOCK_STREAM, 0)");

	r = syscall(SYS_dup3, fd, 100, O_CLOEXEC);
	expect(r, 0, "dup3(%ld, 100, O_CLOEXEC)", fd);
	r = syscall(SYS_dup3, fd, fd, 0);
	expect(r, 0, "dup3(%ld, %ld, 0x0)", fd, fd);
	r = syscall(SYS_fcntl, fd, F_GETFL, 0);
	expect(r, 0, "fcntl(%ld, F_GETFL, 0x0)", fd);
	r = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 50);
	expect(r, 0, "fcntl(%ld, F_DUPFD_CLOEXEC, 0x32)", fd);
	int n = 0;
	r = syscall(SYS_ioctl, fd, FIONREAD, &n);
	expect(r, 0, "ioctl(%ld, %d, 0x%lx)", fd, FIONREAD, (long)&n);
	r = syscall(SYS_close, 12345);
	expect(r, 0, "close(12345)");

	long d = syscall(SYS_openat, AT_FDCWD, argv[2], O_RDONLY | O_DIRECTORY);
	expect(d, 0, "openat(AT_FDCWD, \"%s\", O_RDONLY|O_DIRECTORY)", argv[2]);
	r = syscall(SYS_getdents64, d, buf, sizeof buf);
	expect(r, 0, "getdents64(%ld, 0x%lx, %d)", d, (long)buf, (int)sizeof buf);
	r = syscall(SYS_renameat2, AT_FDCWD, path, d, "b", 1 /* RENAME_NOREPLACE */);
	expect(r, 0, "renameat2(AT_FDCWD, \"%s\", %ld, \"b\", RENAME_NOREPLACE)", path, d);
	r = syscall(SYS_unlinkat, d, "b", 0);
	expect(r, 0, "unlinkat(%ld, \"b\", 0x0)", d);
	r = syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent/x", AT_REMOVEDIR);
	expect(r, 0, "unlinkat(AT_FDCWD, \"/nonexistent/x\", AT_REMOVEDIR)");

	/* clone as stap's __fork_flags shows it: the CLONE_ flags in the
	 * order of its list, what is left in hex, then the exit signal. */
	r = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	if (r == 0)
		_exit(0);
	expect(r, 0, "clone(0x0|SIGCHLD, 0x0, 0x0, 0x0)");
	fd2 = r;
	r = syscall(SYS_wait4, fd2, NULL, 0, NULL);
	expect(r, 0, "wait4(%ld, 0x0, 0x0, 0x0)", fd2);
	static int ctid;
	r = syscall(SYS_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, 0, NULL, &ctid, 0);
	if (r == 0)
		_exit(0);
	expect(r, 0, "clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, 0x0, 0x0, 0x%lx)", (long)&ctid);
	fd2 = r;
	r = syscall(SYS_wait4, fd2, NULL, 0, NULL);
	expect(r, 0, "wait4(%ld, 0x0, 0x0, 0x0)", fd2);
	r = syscall(SYS_fork);
	if (r == 0)
		_exit(0);
	expect(r, 0, "fork()");
	fd2 = r;
	r = syscall(SYS_wait4, fd2, NULL, 0, NULL);
	expect(r, 0, "wait4(%ld, 0x0, 0x0, 0x0)", fd2);
	r = syscall(SYS_clone, CLONE_THREAD, 0, NULL, NULL, 0);
	expect(r, 0, "clone(CLONE_THREAD, 0x0, 0x0, 0x0)");
	/* CLONE_SIGHAND without CLONE_VM: EINVAL; 0x1000 (CLONE_PIDFD) is not in stap's list. */
	r = syscall(SYS_clone, CLONE_SIGHAND | 0x1000 | SIGUSR1, 0, NULL, NULL, 0);
	expect(r, 0, "clone(CLONE_SIGHAND|0x1000|SIGUSR1, 0x0, 0x0, 0x0)");

	/* futex: the operation's name, and the arguments it uses. */
	static unsigned int fw, fw2;
	r = syscall(SYS_futex, &fw, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	expect(r, 0, "futex(0x%lx, FUTEX_WAKE_PRIVATE, 1)", (long)&fw);
	r = syscall(SYS_futex, &fw, FUTEX_WAIT, 1, &ts, NULL, 0);
	expect(r, 0, "futex(0x%lx, FUTEX_WAIT, 1, [0.000001000])", (long)&fw);
	r = syscall(SYS_futex, &fw, FUTEX_WAKE_BITSET, 2, NULL, NULL, FUTEX_BITSET_MATCH_ANY);
	expect(r, 0, "futex(0x%lx, FUTEX_WAKE_BITSET, 2, 0x%lx)", (long)&fw, (long)(int)FUTEX_BITSET_MATCH_ANY);
	r = syscall(SYS_futex, &fw, FUTEX_WAKE_OP, 1, (void *)3, &fw2, FUTEX_OP(FUTEX_OP_ADD, -3, FUTEX_OP_CMP_GT, 2));
	expect(r, 0, "futex(0x%lx, FUTEX_WAKE_OP, 1, 3, 0x%lx, {FUTEX_OP_ADD, -3, FUTEX_OP_CMP_GT, 2})", (long)&fw, (long)&fw2);
	r = syscall(SYS_futex, &fw, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &fw2, 0);
	expect(r, 0, "futex(0x%lx, FUTEX_CMP_REQUEUE_PRIVATE, 1)", (long)&fw);
	r = syscall(SYS_futex, &fw, 99, 0, NULL, NULL, 0);
	expect(r, 0, "futex(0x%lx, 0x63, 0)", (long)&fw);

	/* prctl: the option's name, then the arguments it uses. */
	static char pname[16];
	r = syscall(SYS_prctl, PR_GET_NAME, pname, 0, 0, 0);
	expect(r, 0, "prctl(PR_GET_NAME, 0x%lx)", (long)pname);
	r = syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
	expect(r, 0, "prctl(PR_GET_DUMPABLE)");
	r = syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
	expect(r, 0, "prctl(PR_SET_DUMPABLE, 1)");
	r = syscall(SYS_prctl, PR_CAPBSET_READ, 21 /* CAP_SYS_ADMIN */, 0, 0, 0);
	expect(r, 0, "prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN)");
	r = syscall(SYS_prctl, PR_SET_UNALIGN, PR_UNALIGN_NOPRINT, 0, 0, 0);
	expect(r, 0, "prctl(PR_SET_UNALIGN, PR_UNALIGN_NOPRINT)");
	r = syscall(SYS_prctl, PR_SET_PTRACER, -1L, 0, 0, 0);
	expect(r, 0, "prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)");
	r = syscall(SYS_prctl, PR_SET_SECCOMP, 7, 0x55, 0, 0);
	expect(r, 0, "prctl(PR_SET_SECCOMP, 0x7, 0x55)");
	r = syscall(SYS_prctl, 9999, 1, 2, 3, 4);
	expect(r, 0, "prctl(0x270f, 0x1, 0x2, 0x3, 0x4)");

	/* bind and connect: the address as stap's _struct_sockaddr_u shows it. */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/sock", argv[2]);
	int sunlen = (int)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
	r = syscall(SYS_bind, u, &sun, sunlen);
	expect(r, 0, "bind(%ld, {AF_UNIX, \"%s\"}, %d)", u, sun.sun_path, sunlen);
	struct sockaddr_un abst = {.sun_family = AF_UNIX};
	memcpy(abst.sun_path, "\0stp-test", 9);
	r = syscall(SYS_bind, u, &abst, 11);
	expect(r, 0, "bind(%ld, {AF_UNIX, \"\\000stp-test\\000\"}, 11)", u);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1)};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	char a4[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sin.sin_addr, a4, sizeof a4);
	r = syscall(SYS_connect, s, &sin, sizeof sin);
	expect(r, 0, "connect(%ld, {AF_INET, %s, %d}, %d)", s, a4, ntohs(sin.sin_port), (int)sizeof sin);
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	char a6[64];
	const unsigned char *b6 = sin6.sin6_addr.s6_addr;
	snprintf(a6, sizeof a6, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x", b6[0], b6[1],
		 b6[2], b6[3], b6[4], b6[5], b6[6], b6[7], b6[8], b6[9], b6[10], b6[11], b6[12], b6[13], b6[14], b6[15]);
	r = syscall(SYS_connect, s, &sin6, sizeof sin6);
	expect(r, 0, "connect(%ld, {AF_INET6, %s, %d}, %d)", s, a6, ntohs(sin6.sin6_port), (int)sizeof sin6);
	struct sockaddr_in odd = {.sin_family = 4242};
	r = syscall(SYS_bind, s, &odd, sizeof odd);
	expect(r, 0, "bind(%ld, {unknown sockaddr with sa=4242, salen=%d}, %d)", s, (int)sizeof odd, (int)sizeof odd);
	r = syscall(SYS_connect, s, NULL, 0);
	expect(r, 0, "connect(%ld, NULL, 0)", s);
	r = syscall(SYS_connect, s, (void *)8, 16);
	expect(r, 0, "connect(%ld, {...}, 16)", s);

	/* rt_sigaction: the kernel's struct sigaction as stap decodes it. */
	struct {
		unsigned long handler, flags, restorer, mask;
	} ka = {0x1234, SA_RESTART | SA_SIGINFO | 0x04000000 /* SA_RESTORER */, 0x5678,
		(1UL << (SIGINT - 1)) | (1UL << (SIGTERM - 1)) | (1UL << (SIGRTMIN + 1 - 1))},
	  old;
	r = syscall(SYS_rt_sigaction, SIGUSR2, &ka, &old, 8);
	expect(r, 0, "rt_sigaction(SIGUSR2, {0x1234, SA_RESTART|SA_SIGINFO|SA_RESTORER, 0x5678, [SIGINT|SIGTERM]}, 0x%lx, 8)", (long)&old);
	ka.mask = 0;
	ka.flags = 0x100;
	r = syscall(SYS_rt_sigaction, SIGKILL, &ka, NULL, 8);
	expect(r, 0, "rt_sigaction(SIGKILL, {0x1234, 0x100, 0x5678, [EMPTY]}, 0x0, 8)");
	ka.handler = (unsigned long)SIG_IGN;
	r = syscall(SYS_rt_sigaction, SIGUSR2, &ka, NULL, 8);
	expect(r, 0, "rt_sigaction(SIGUSR2, {SIG_IGN}, 0x0, 8)");
	ka.handler = (unsigned long)SIG_DFL;
	r = syscall(SYS_rt_sigaction, SIGUSR2, &ka, NULL, 8);
	expect(r, 0, "rt_sigaction(SIGUSR2, {SIG_DFL}, 0x0, 8)");
	r = syscall(SYS_rt_sigaction, SIGUSR2, NULL, &old, 8);
	expect(r, 0, "rt_sigaction(SIGUSR2, {NULL}, 0x%lx, 8)", (long)&old);
	r = syscall(SYS_rt_sigaction, SIGUSR2, (void *)8, NULL, 8);
	expect(r, 0, "rt_sigaction(SIGUSR2, {0x8}, 0x0, 8)");

	/* accept4 and recvfrom: their flags by name. */
	r = syscall(SYS_accept4, u, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	expect(r, 0, "accept4(%ld, 0x0, 0x0, SOCK_CLOEXEC|SOCK_NONBLOCK)", u);
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof from;
	r = syscall(SYS_accept4, -1, &from, &fromlen, 0);
	expect(r, 0, "accept4(-1, 0x%lx, 0x%lx, 0x0)", (long)&from, (long)&fromlen);
	r = syscall(SYS_recvfrom, u, buf, 100, MSG_PEEK | MSG_DONTWAIT, &from, &fromlen);
	expect(r, 0, "recvfrom(%ld, 0x%lx, 100, MSG_PEEK|MSG_DONTWAIT, 0x%lx, 0x%lx)", u, (long)buf, (long)&from, (long)&fromlen);
	/* MSG_CMSG_COMPAT (0x80000000) is left out; 0x100000 has no name. */
	r = syscall(SYS_recvfrom, u, buf, 7, 0x80000000u | 0x100000 | MSG_TRUNC, NULL, NULL);
	expect(r, 0, "recvfrom(%ld, 0x%lx, 7, MSG_TRUNC|0x100000, 0x0, 0x0)", u, (long)buf);


	/* File calls on a fresh file: modes in octal, flags by name, times
	 * as stap's struct decoders show them. */
	char path3[256], lnk[256], lnk2[256], dir[256];
	snprintf(path3, sizeof path3, "%s/c", argv[2]);
	snprintf(lnk, sizeof lnk, "%s/l", argv[2]);
	snprintf(lnk2, sizeof lnk2, "%s/l2", argv[2]);
	snprintf(dir, sizeof dir, "%s/d", argv[2]);
	long f3 = syscall(SYS_openat, AT_FDCWD, path3, O_RDWR | O_CREAT, 0600);
	expect(f3, 0, "openat(AT_FDCWD, \"%s\", O_RDWR|O_CREAT, 0600)", path3);
	r = syscall(SYS_access, path3, R_OK | W_OK);
	expect(r, 0, "access(\"%s\", R_OK|W_OK)", path3);
	r = syscall(SYS_access, "/nonexistent/x", F_OK);
	expect(r, 0, "access(\"/nonexistent/x\", F_OK)");
	r = syscall(SYS_faccessat, AT_FDCWD, path3, X_OK | 0x10);
	expect(r, 0, "faccessat(AT_FDCWD, \"%s\", X_OK|0x10)", path3);
	r = syscall(SYS_chmod, path3, 0640);
	expect(r, 0, "chmod(\"%s\", 0640)", path3);
	r = syscall(SYS_fchmod, f3, 04755);
	expect(r, 0, "fchmod(%ld, 04755)", f3);
	r = syscall(SYS_fchownat, AT_FDCWD, path3, -1, -1, AT_SYMLINK_NOFOLLOW);
	expect(r, 0, "fchownat(AT_FDCWD, \"%s\", -1, -1, AT_SYMLINK_NOFOLLOW)", path3);
	/* umask's result shows in octal (return_str's format 3). */
	long um = syscall(SYS_umask, 027);
	fprintf(out, "umask(027) = %#lo\n", um);
	r = syscall(SYS_umask, um);
	fprintf(out, "umask(%#lo) = %#lo\n", um, r);
	r = syscall(SYS_mkdirat, AT_FDCWD, dir, 0750);
	expect(r, 0, "mkdirat(AT_FDCWD, \"%s\", 0750)", dir);
	r = syscall(SYS_symlinkat, "c", AT_FDCWD, lnk);
	expect(r, 0, "symlinkat(\"c\", AT_FDCWD, \"%s\")", lnk);
	r = syscall(SYS_readlinkat, AT_FDCWD, lnk, buf, 100);
	expect(r, 0, "readlinkat(AT_FDCWD, \"%s\", 0x%lx, 100)", lnk, (long)buf);
	r = syscall(SYS_renameat, AT_FDCWD, lnk, AT_FDCWD, lnk2);
	expect(r, 0, "renameat(AT_FDCWD, \"%s\", AT_FDCWD, \"%s\")", lnk, lnk2);
	r = syscall(SYS_linkat, AT_FDCWD, path3, AT_FDCWD, lnk, AT_SYMLINK_FOLLOW);
	expect(r, 0, "linkat(AT_FDCWD, \"%s\", AT_FDCWD, \"%s\", AT_SYMLINK_FOLLOW)", path3, lnk);
	struct timespec two[2] = {{1, 2}, {0, UTIME_OMIT}};
	r = syscall(SYS_utimensat, AT_FDCWD, path3, two, AT_SYMLINK_NOFOLLOW);
	expect(r, 0, "utimensat(AT_FDCWD, \"%s\", [1.000000002][UTIME_OMIT], AT_SYMLINK_NOFOLLOW)", path3);
	r = syscall(SYS_utimensat, f3, NULL, NULL, 0);
	expect(r, 0, "utimensat(%ld, 0x0, NULL, 0x0)", f3);
	struct timeval tv2[2] = {{5, 6}, {7, 123456}};
	r = syscall(SYS_utimes, path3, tv2);
	expect(r, 0, "utimes(\"%s\", [5.000006][7.123456])", path3);
	r = syscall(SYS_flock, f3, LOCK_EX | LOCK_NB);
	expect(r, 0, "flock(%ld, LOCK_EX|LOCK_NB)", f3);
	r = syscall(SYS_flock, f3, LOCK_UN);
	expect(r, 0, "flock(%ld, LOCK_UN)", f3);
	r = syscall(SYS_fadvise64, f3, 0, 100, POSIX_FADV_SEQUENTIAL);
	expect(r, 0, "fadvise64(%ld, 0, 100, POSIX_FADV_SEQUENTIAL)", f3);
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	r = syscall(SYS_writev, f3, iov, 2);
	expect(r, 0, "writev(%ld, 0x%lx, 2)", f3, (long)iov);
	r = syscall(SYS_fsync, f3);
	expect(r, 0, "fsync(%ld)", f3);

	/* Memory. */
	p = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f3, 0);
	expect(p, 1, "mmap2(0x0, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, %ld, 0)", f3);
	r = syscall(SYS_msync, p, 4096, MS_SYNC | MS_INVALIDATE);
	expect(r, 0, "msync(0x%lx, 4096, MS_INVALIDATE|MS_SYNC)", p);
	r = syscall(SYS_madvise, p, 4096, MADV_DONTNEED);
	expect(r, 0, "madvise(0x%lx, 4096, MADV_DONTNEED)", p);
	r = syscall(SYS_madvise, p, 4096, 77);
	expect(r, 0, "madvise(0x%lx, 4096, 0x4d)", p);
	r = syscall(SYS_munmap, p, 4096);
	expect(r, 0, "munmap(0x%lx, 4096)", p);

	/* Limits, usage, priorities, timers: enums by name, structs read. */
	struct rlimit rl;
	r = syscall(SYS_getrlimit, RLIMIT_CORE, &rl);
	expect(r, 0, "getrlimit(RLIMIT_CORE, 0x%lx)", (long)&rl);
	r = syscall(SYS_setrlimit, RLIMIT_CORE, &rl);
	expect(r, 0, "setrlimit(RLIMIT_CORE, [%ld,%ld])", (long)rl.rlim_cur, (long)rl.rlim_max);
	r = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl);
	expect(r, 0, "prlimit64(0, RLIMIT_NOFILE, NULL, 0x%lx)", (long)&rl);
	r = syscall(SYS_prlimit64, 0, 999, (void *)8, NULL);
	expect(r, 0, "prlimit64(0, 0x3e7, 0x8, 0x0)");
	struct rusage ru;
	r = syscall(SYS_getrusage, RUSAGE_CHILDREN, &ru);
	expect(r, 0, "getrusage(RUSAGE_CHILDREN, 0x%lx)", (long)&ru);
	r = syscall(SYS_getpriority, PRIO_PROCESS, 0);
	expect(r, 0, "getpriority(PRIO_PROCESS, 0)");
	struct sched_param sp = {0};
	r = syscall(SYS_sched_setscheduler, 0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp);
	expect(r, 0, "sched_setscheduler(0, SCHED_RESET_ON_FORK|SCHED_FIFO, 0x%lx)", (long)&sp);
	r = syscall(SYS_wait4, -1, NULL, WNOHANG | __WALL, NULL);
	expect(r, 0, "wait4(-1, 0x0, WNOHANG|__WALL, 0x0)");
	siginfo_t si;
	r = syscall(SYS_waitid, P_PID, 0x7ffffff0, &si, WEXITED | WNOHANG, NULL);
	expect(r, 0, "waitid(P_PID, %d, 0x%lx, WNOHANG|WEXITED, 0x0)", 0x7ffffff0, (long)&si);
	struct itimerval itv = {{0, 0}, {100, 500}}, oitv;
	r = syscall(SYS_setitimer, ITIMER_REAL, &itv, &oitv);
	expect(r, 0, "setitimer(ITIMER_REAL, [0.000000,100.000500], 0x%lx)", (long)&oitv);
	memset(&itv, 0, sizeof itv);
	r = syscall(SYS_setitimer, ITIMER_REAL, &itv, NULL);
	expect(r, 0, "setitimer(ITIMER_REAL, [0.000000,0.000000], 0x0)");
	r = syscall(SYS_getitimer, ITIMER_PROF, &oitv);
	expect(r, 0, "getitimer(ITIMER_PROF, 0x%lx)", (long)&oitv);
	r = syscall(SYS_clock_gettime, CLOCK_BOOTTIME, &ts);
	expect(r, 0, "clock_gettime(CLOCK_BOOTTIME, 0x%lx)", (long)&ts);
	struct timespec ts3 = {3, 4};
	r = syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts3);
	expect(r, 0, "clock_settime(CLOCK_MONOTONIC, [3.000000004])");

	/* Signal masks as stap's _stp_sigset_u shows them. */
	unsigned long set = (1UL << (SIGHUP - 1)) | (1UL << (SIGUSR1 - 1)), oset;
	r = syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, &oset, 8);
	expect(r, 0, "rt_sigprocmask(SIG_BLOCK, [SIGHUP|SIGUSR1], 0x%lx, 8)", (long)&oset);
	r = syscall(SYS_rt_sigprocmask, SIG_SETMASK, &oset, NULL, 8);
	expect(r, 0, "rt_sigprocmask(SIG_SETMASK, [EMPTY], 0x0, 8)");
	r = syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &oset, 8);
	expect(r, 0, "rt_sigprocmask(SIG_BLOCK, NULL, 0x%lx, 8)", (long)&oset);
	r = syscall(SYS_rt_sigprocmask, 7, (void *)8, NULL, 8);
	expect(r, 0, "rt_sigprocmask(0x7, 0x8, 0x0, 8)");

	/* Event fds, epoll, poll and select. */
	long efd = syscall(SYS_eventfd2, 3, EFD_CLOEXEC | EFD_NONBLOCK);
	expect(efd, 0, "eventfd2(3, EFD_NONBLOCK|EFD_CLOEXEC)");
	long ifd = syscall(SYS_inotify_init1, IN_CLOEXEC);
	expect(ifd, 0, "inotify_init1(IN_CLOEXEC)");
	long ep = syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
	expect(ep, 0, "epoll_create1(EPOLL_CLOEXEC)");
	struct epoll_event ev = {.events = EPOLLIN}, evs[4];
	r = syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, efd, &ev);
	expect(r, 0, "epoll_ctl(%ld, EPOLL_CTL_ADD, %ld, 0x%lx)", ep, efd, (long)&ev);
	r = syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, efd, NULL);
	expect(r, 0, "epoll_ctl(%ld, EPOLL_CTL_DEL, %ld, 0x0)", ep, efd);
	r = syscall(SYS_epoll_wait, ep, evs, 4, 0);
	expect(r, 0, "epoll_wait(%ld, 0x%lx, 4, 0)", ep, (long)evs);
	struct pollfd pfd = {.fd = (int)efd, .events = POLLIN};
	r = syscall(SYS_poll, &pfd, 1, 0);
	expect(r, 0, "poll(0x%lx, 1, 0)", (long)&pfd);
	struct timespec zero = {0, 0};
	r = syscall(SYS_ppoll, &pfd, 1, &zero, NULL, 8);
	expect(r, 0, "ppoll(0x%lx, 1, [0.000000000], 0x0, 8)", (long)&pfd);
	struct timeval tv = {0, 1000};
	r = syscall(SYS_select, 0, NULL, NULL, NULL, &tv);
	expect(r, 0, "select(0, 0x0, 0x0, 0x0, [0.001000])");
	r = syscall(SYS_pselect6, 0, NULL, NULL, NULL, &ts3, (void *)16);
	expect(r, 0, "pselect6(0, 0x0, 0x0, 0x0, [3.000000004], 0x10)");

	/* Sockets. */
	int sv[2] = {-1, -1};
	r = syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
	expect(r, 0, "socketpair(PF_LOCAL, SOCK_STREAM, 0, 0x%lx)", (long)sv);
	r = syscall(SYS_sendto, sv[0], "hi\n", 3, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
	expect(r, 0, "sendto(%d, \"hi\\n\", 3, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0)", sv[0]);
	r = syscall(SYS_sendto, s, "x", 1, MSG_NOSIGNAL, &sin, sizeof sin);
	expect(r, 0, "sendto(%ld, \"x\", 1, MSG_NOSIGNAL, {AF_INET, %s, %d}, %d)", s, a4, ntohs(sin.sin_port), (int)sizeof sin);
	r = syscall(SYS_shutdown, sv[1], SHUT_RDWR);
	expect(r, 0, "shutdown(%d, SHUT_RDWR)", sv[1]);
	r = syscall(SYS_listen, sv[0], 5);
	expect(r, 0, "listen(%d, 5)", sv[0]);


	/* Timer, memory and signal fds; mount, umount and splice, failing. */
	long tfd = syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	expect(tfd, 0, "timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK)");
	struct itimerspec its = {{1, 5}, {0, 0}};
	r = syscall(SYS_timerfd_settime, tfd, TFD_TIMER_ABSTIME, &its, NULL);
	expect(r, 0, "timerfd_settime(%ld, TFD_TIMER_ABSTIME, [1.000005,0.000000], 0x0)", tfd);
	long mfd = syscall(SYS_memfd_create, "stp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	expect(mfd, 0, "memfd_create(\"stp\", MFD_CLOEXEC|MFD_ALLOW_SEALING)");
	static char zbuf[8];
	r = syscall(SYS_getrandom, zbuf, sizeof zbuf, GRND_NONBLOCK);
	expect(r, 0, "getrandom(\"\", %d, GRND_NONBLOCK)", (int)sizeof zbuf);
	unsigned long sfmask = 1UL << (SIGUSR2 - 1);
	long sfd = syscall(SYS_signalfd4, -1, &sfmask, 8, SFD_CLOEXEC);
	expect(sfd, 0, "signalfd4(-1, 0x%lx, 8, SFD_CLOEXEC)", (long)&sfmask);
	r = syscall(SYS_mount, "none", "/nonexistent/x", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
	expect(r, 0, "mount(\"none\", \"/nonexistent/x\", \"tmpfs\", MS_NOSUID|MS_NODEV, \"size=1m\")");
	r = syscall(SYS_umount2, "/nonexistent/x", MNT_DETACH | UMOUNT_NOFOLLOW);
	expect(r, 0, "umount(\"/nonexistent/x\", MNT_DETACH|UMOUNT_NOFOLLOW)");
	r = syscall(SYS_splice, -1, NULL, -1, NULL, 10, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	expect(r, 0, "splice(-1, 0x0, -1, 0x0, 10, SPLICE_F_MOVE|SPLICE_F_NONBLOCK)");


	/* Flags and enums of less common calls. */
	r = syscall(SYS_fallocate, f3, 1 /* FALLOC_FL_KEEP_SIZE */, 16, 4096);
	expect(r, 0, "fallocate(%ld, FALLOC_FL_KEEP_SIZE, 0x10, 4096)", f3);
	r = syscall(SYS_sync_file_range, f3, 0, 0, SYNC_FILE_RANGE_WRITE);
	expect(r, 0, "sync_file_range(%ld, 0, 0, SYNC_FILE_RANGE_WRITE)", f3);
	r = syscall(SYS_inotify_add_watch, ifd, path3, IN_MODIFY | IN_CLOSE_WRITE | IN_ONESHOT);
	expect(r, 0, "inotify_add_watch(%ld, \"%s\", IN_MODIFY|IN_CLOSE_WRITE|IN_ONESHOT)", ifd, path3);
	r = syscall(SYS_kcmp, pid, pid, 1 /* KCMP_VM */, 0, 0);
	expect(r, 0, "kcmp(%d, %d, KCMP_VM, 0, 0)", pid, pid);
	r = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0);
	expect(r, 0, "membarrier(MEMBARRIER_CMD_QUERY, 0)");
	r = syscall(SYS_personality, 0xffffffffUL);
	expect(r, 0, "personality(0xffffffff)");
	r = syscall(SYS_sched_get_priority_max, SCHED_FIFO);
	expect(r, 0, "sched_get_priority_max(SCHED_FIFO)");
	struct iovec riov = {buf, 4};
	r = syscall(SYS_preadv2, f3, &riov, 1, 0, 0, 1 /* RWF_HIPRI */);
	expect(r, 0, "preadv2(%ld, 0x%lx, 1, 0x0, RWF_HIPRI)", f3, (long)&riov);
	struct {
		unsigned int version;
		int pid;
	} caph = {0x20080522, 0};
	r = syscall(SYS_capget, &caph, NULL);
	expect(r, 0, "capget(0x%lx, 0x0)", (long)&caph);


	/* Socket options by stap's names (the SOL_SOCKET names for every
	 * level), and timeouts read from user memory; the calls fail or
	 * change nothing. */
	int one = 1, optv = 0;
	socklen_t optl = sizeof optv;
	r = syscall(SYS_setsockopt, s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	expect(r, 0, "setsockopt(%ld, SOL_SOCKET, SO_REUSEADDR, 0x%lx, %d)", s, (long)&one, (int)sizeof one);
	r = syscall(SYS_setsockopt, s, IPPROTO_TCP, 1 /* TCP_NODELAY, SO_DEBUG's number */, &one, sizeof one);
	expect(r, 0, "setsockopt(%ld, SOL_TCP, SO_DEBUG, 0x%lx, %d)", s, (long)&one, (int)sizeof one);
	r = syscall(SYS_getsockopt, s, SOL_SOCKET, SO_RCVBUF, &optv, &optl);
	expect(r, 0, "getsockopt(%ld, SOL_SOCKET, SO_RCVBUF, 0x%lx, 0x%lx)", s, (long)&optv, (long)&optl);
	struct timeval badtv = {5, 2000000};
	struct timezone tz = {60, 0};
	r = syscall(SYS_settimeofday, &badtv, &tz);
	expect(r, 0, "settimeofday([5.2000000], [60, 0])");
	struct timespec us1 = {0, 1000};
	r = syscall(SYS_io_getevents, 0, 0, 0, NULL, &us1);
	expect(r, 0, "io_getevents(0, 0, 0, 0x0, [0.000001000])");
	r = syscall(SYS_semtimedop, -1, NULL, 0, &us1);
	expect(r, 0, "semtimedop(-1, 0x0, 0, [0.000001000])");


	/* System V IPC, failing on a key or id that does not exist; mknodat;
	 * times and sigaltstack, their structs read. */
	r = syscall(SYS_semget, 0x7ffffff0, 1, 0600);
	expect(r, 0, "semget(%d, 1, 0600)", 0x7ffffff0);
	r = syscall(SYS_msgget, 0x7ffffff0, IPC_EXCL | 0644);
	expect(r, 0, "msgget(%d, IPC_EXCL|0644)", 0x7ffffff0);
	r = syscall(SYS_shmget, 0x7ffffff0, 4096, 0600);
	expect(r, 0, "shmget(%d, 4096, 0x0|0600)", 0x7ffffff0);
	r = syscall(SYS_shmat, -1, NULL, SHM_RDONLY);
	expect(r, 0, "shmat(-1, 0x0, SHM_RDONLY)");
	r = syscall(SYS_msgsnd, -1, buf, 10, IPC_NOWAIT);
	expect(r, 0, "msgsnd(-1, 0x%lx, 10, IPC_NOWAIT)", (long)buf);
	r = syscall(SYS_msgrcv, -1, buf, 10, 0, MSG_NOERROR | IPC_NOWAIT);
	expect(r, 0, "msgrcv(-1, 0x%lx, 10, 0, MSG_NOERROR|IPC_NOWAIT)", (long)buf);
	char fifo[256];
	snprintf(fifo, sizeof fifo, "%s/f", argv[2]);
	r = syscall(SYS_mknodat, AT_FDCWD, fifo, S_IFIFO | 0600, 0);
	expect(r, 0, "mknodat(AT_FDCWD, \"%s\", S_IFIFO|0600, 0)", fifo);
	struct tms tmsz;
	memset(&tmsz, 0, sizeof tmsz);
	r = syscall(SYS_times, &tmsz);
	expect(r, 0, "times({tms_utime=0, tms_stime=0, tms_cutime=0, tms_cstime=0})");
	stack_t oss, ss = {.ss_sp = buf, .ss_flags = SS_DISABLE, .ss_size = 0};
	r = syscall(SYS_sigaltstack, NULL, &oss);
	expect(r, 0, "sigaltstack(0x0, 0x%lx)", (long)&oss);
	r = syscall(SYS_sigaltstack, &ss, NULL);
	expect(r, 0, "sigaltstack({ss_sp=0x%lx, ss_flags=SS_DISABLE, ss_size=0}, 0x0)", (long)buf);


	/* IPC commands, seccomp and I/O priorities by name. */
	r = syscall(SYS_semctl, -1, 0, IPC_RMID, 0);
	expect(r, 0, "semctl(-1, 0, IPC_RMID, 0x0)");
	r = syscall(SYS_shmctl, -1, 0x100 /* IPC_64 */ | IPC_STAT, NULL);
	expect(r, 0, "shmctl(-1, IPC_64|IPC_STAT, 0x0)");
	r = syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 1 /* SECCOMP_FILTER_FLAG_TSYNC */, NULL);
	expect(r, 0, "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, 0x0)");
	r = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
	expect(r, 0, "ioprio_get(IOPRIO_WHO_PROCESS, 0)");
	r = syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4 /* IOPRIO_CLASS_BE, level 4 */);
	expect(r, 0, "ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_BE|4)");
	r = syscall(SYS_ioprio_get, 9, 0);
	expect(r, 0, "ioprio_get(9, 0)");

	goto rest;

	/* The second part: buffers as stap's user_buffer_quoted cuts them, and
	 * the calls whose arguments stap decodes with its own structures and
	 * names (the syscall tapset's decoders of memory policies, xattrs,
	 * siginfo, ptrace, ...). */
decoders:;
	/* Buffers as stap's user_buffer_quoted cuts them. */
	unsigned char wb[80];
	memset(wb, 'a', sizeof wb);
	r = syscall(SYS_write, -1, wb, 60);
	expect(r, 0, "write(-1, %s, 60)", buffer_quoted(wb, 60, 50));
	memcpy(wb + 44, "\001bbb", 4);
	r = syscall(SYS_write, -1, wb, 70);
	expect(r, 0, "write(-1, %s, 70)", buffer_quoted(wb, 70, 50));
	memset(wb, 'a', sizeof wb);
	wb[47] = '\n';
	r = syscall(SYS_write, -1, wb, 48);
	expect(r, 0, "write(-1, %s, 48)", buffer_quoted(wb, 48, 50));
	wb[47] = 'a';
	wb[48] = 0;
	r = syscall(SYS_write, -1, wb, 60);
	expect(r, 0, "write(-1, %s, 60)", buffer_quoted(wb, 60, 50));
	r = syscall(SYS_write, -1, "hi\0there\t\"\\", 12);
	expect(r, 0, "write(-1, %s, 12)", buffer_quoted((const unsigned char *)"hi\0there\t\"\\", 12, 50));

	/* Memory policies. */
	int mode = -1;
	long mp = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect(mp, 1, "mmap2(0x0, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
	r = syscall(SYS_set_mempolicy, 2 | (1 << 15) /* MPOL_BIND|MPOL_F_STATIC_NODES */, NULL, 0);
	expect(r, 0, "set_mempolicy(MPOL_F_STATIC_NODES|MPOL_BIND, 0x0, 0)");
	r = syscall(SYS_set_mempolicy, 0 /* MPOL_DEFAULT */, NULL, 0);
	expect(r, 0, "set_mempolicy(MPOL_DEFAULT, 0x0, 0)");
	r = syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 0);
	expect(r, 0, "get_mempolicy(0x%lx, 0x0, 0, 0x0, 0x0)", (long)&mode);
	r = syscall(SYS_get_mempolicy, &mode, NULL, 0, mp, 3 /* MPOL_F_NODE|MPOL_F_ADDR */);
	expect(r, 0, "get_mempolicy(0x%lx, 0x0, 0, 0x%lx, MPOL_F_NODE|MPOL_F_ADDR)", (long)&mode, mp);
	/* stap decodes mbind's and move_pages' MPOL_MF_ flags by the MPOL_F_ names. */
	r = syscall(SYS_mbind, mp, 4096, 1 /* MPOL_PREFERRED */, NULL, 0, 2 /* MPOL_MF_MOVE */);
	expect(r, 0, "mbind(0x%lx, 4096, MPOL_PREFERRED, 0x0, 0, MPOL_F_ADDR)", mp);
	r = syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 2);
	expect(r, 0, "move_pages(0, 0, 0x0, 0x0, 0x0, MPOL_F_ADDR)");
	r = syscall(SYS_remap_file_pages, mp, 4096, 0, 0, 0);
	expect(r, 0, "remap_file_pages(0x%lx, 0x1000, PROT_NONE, 0x0, 0x0)", mp);

	/* Extended attributes: the value's text, its flags. */
	r = syscall(SYS_setxattr, path, "user.k", "v1", 3, 1 /* XATTR_CREATE */);
	expect(r, 0, "setxattr(\"%s\", \"user.k\", \"v1\", 3, XATTR_CREATE)", path);
	r = syscall(SYS_lsetxattr, path, "user.k", "\001a\"b", 4, 2 /* XATTR_REPLACE */);
	expect(r, 0, "lsetxattr(\"%s\", \"user.k\", \"\\x01a\"b\", 4, XATTR_REPLACE)", path);
	r = syscall(SYS_fsetxattr, -1, "user.k", NULL, 0, 0);
	expect(r, 0, "fsetxattr(-1, \"user.k\", 0x0, 0, 0x0)");

	/* Signals with a siginfo (signal 0 only checks). */
	siginfo_t qi;
	memset(&qi, 0, sizeof qi);
	qi.si_signo = SIGUSR1;
	qi.si_code = SI_QUEUE;
	qi.si_pid = 1234;
	qi.si_uid = 5;
	r = syscall(SYS_rt_sigqueueinfo, pid, 0, &qi);
	expect(r, 0, "rt_sigqueueinfo(%d, SIG_0, {si_signo=SIGUSR1, si_code=SI_QUEUE, si_pid=1234, si_uid=5})", pid);
	memset(&qi, 0, sizeof qi);
	qi.si_signo = SIGCHLD;
	qi.si_code = CLD_EXITED;
	qi.si_pid = 7;
	qi.si_uid = 8;
	qi.si_status = 3;
	/* stap writes a code it knows only by the signal after its hex. */
	r = syscall(SYS_rt_tgsigqueueinfo, pid, tid, 0, &qi);
	expect(r, 0, "rt_tgsigqueueinfo(%d, %d, SIG_0, {si_signo=SIGCHLD, si_code=0x1CLD_EXITED, si_pid=7, si_uid=8, si_status=3})", pid, tid);
	memset(&qi, 0, sizeof qi);
	sigset_t set2;
	sigemptyset(&set2);
	sigaddset(&set2, SIGUSR2);
	struct timespec nowait = {0, 0};
	r = syscall(SYS_rt_sigtimedwait, &set2, &qi, &nowait, 8);
	expect(r, 0, "rt_sigtimedwait([SIGUSR2], {si_signo=SIG_0, si_code=SI_USER, si_pid=0, si_uid=0}, [0.000000000], 8)");

	/* ptrace by request, on a process that does not exist. */
	long word = 0x5eed;
	struct iovec regs_iov = {buf, 64};
	r = syscall(SYS_ptrace, PTRACE_PEEKDATA, 0x7ffffff0, 0x1000, &word);
	expect(r, 0, "ptrace(PTRACE_PEEKDATA, %d, 0x1000, [0x%lx])", 0x7ffffff0, (long)&word);
	ptrace_return_vars(PTRACE_PEEKDATA, 0x1000, (long)&word);
	r = syscall(SYS_ptrace, PTRACE_CONT, 0x7ffffff0, 0, SIGUSR1);
	expect(r, 0, "ptrace(PTRACE_CONT, %d, 0x0, SIGUSR1)", 0x7ffffff0);
	ptrace_return_vars(PTRACE_CONT, 0, SIGUSR1);
	r = syscall(SYS_ptrace, PTRACE_SETOPTIONS, 0x7ffffff0, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
	expect(r, 0, "ptrace(PTRACE_SETOPTIONS, %d, 0x0, PTRACE_O_TRACECLONE|PTRACE_O_TRACEEXEC)", 0x7ffffff0);
	ptrace_return_vars(PTRACE_SETOPTIONS, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
	r = syscall(SYS_ptrace, 0x4204 /* PTRACE_GETREGSET */, 0x7ffffff0, 1 /* NT_PRSTATUS */, &regs_iov);
	expect(r, 0, "ptrace(PTRACE_GETREGSET, %d, NT_PRSTATUS, [{0x%lx, 64}])", 0x7ffffff0, (long)buf);
	ptrace_return_vars(0x4204, 1, (long)&regs_iov);
	r = syscall(SYS_ptrace, 30 /* PTRACE_ARCH_PRCTL */, 0x7ffffff0, &word, 0x1003 /* ARCH_GET_FS */);
	expect(r, 0, "ptrace(PTRACE_ARCH_PRCTL, %d, 0x%lx, ARCH_GET_FS)", 0x7ffffff0, (long)&word);
	ptrace_return_vars(30, (long)&word, 0x1003);
	r = syscall(SYS_ptrace, 0x7777, 0x7ffffff0, 0, 0);
	expect(r, 0, "ptrace(0x7777, %d, 0x0, 0x0)", 0x7ffffff0);
	ptrace_return_vars(0x7777, 0, 0);

	/* reboot with a wrong second magic number does nothing. */
	r = syscall(SYS_reboot, 0xfee1dead, 0, 0x89ABCDEF /* LINUX_REBOOT_CMD_CAD_ON */, NULL);
	expect(r, 0, "reboot(LINUX_REBOOT_MAGIC1, 0x0, LINUX_REBOOT_CMD_CAD_ON, 0x0)");
	r = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0);
	expect(r, 0, "bpf(BPF_MAP_CREATE, 0x0, 0)");
	r = syscall(SYS_bpf, 99, NULL, 0);
	expect(r, 0, "bpf(0x63, 0x0, 0)");
	r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 8 /* PERF_FLAG_FD_CLOEXEC */);
	expect(r, 0, "perf_event_open(0x0, 0, -1, -1, PERF_FLAG_FD_CLOEXEC)");
	r = syscall(SYS_msgctl, -1, IPC_STAT, NULL);
	expect(r, 0, "msgctl(-1, IPC_STAT, 0x0)");
	r = syscall(SYS_msgctl, -1, 0x100 | MSG_STAT, NULL);
	expect(r, 0, "msgctl(-1, IPC_64|MSG_STAT, 0x0)");
	r = syscall(SYS_swapon, "/nonexistent/x", 0x8000 | 5 /* SWAP_FLAG_PREFER, priority 5 */);
	expect(r, 0, "swapon(\"/nonexistent/x\", SWAP_FLAG_PREFER|5)");
	r = syscall(SYS_add_key, "user", "stp-test", "payload\0x", 9, 0);
	expect(r, 0, "add_key(\"user\", \"stp-test\", \"payload\\000x\", 9, 0)");

	/* fds of fanotify and userfaultfd, closed when they opened. */
	r = syscall(SYS_fanotify_init, 0x1 | 0x2 /* FAN_CLOEXEC|FAN_NONBLOCK */, O_RDONLY | O_CLOEXEC);
	expect(r, 0, "fanotify_init(FAN_CLASS_NOTIF|FAN_CLOEXEC|FAN_NONBLOCK, O_RDONLY|O_CLOEXEC)");
	if (r >= 0)
		expect(syscall(SYS_close, r), 0, "close(%ld)", r);
	r = syscall(SYS_fanotify_mark, -1, 0x1 | 0x8 /* FAN_MARK_ADD|FAN_MARK_ONLYDIR */,
		    0x20ULL | 0x40000000ULL /* FAN_OPEN|FAN_ONDIR */, AT_FDCWD, "/nonexistent/x");
	expect(r, 0, "fanotify_mark(-1, FAN_MARK_ADD|FAN_MARK_ONLYDIR, FAN_OPEN|FAN_ONDIR, AT_FDCWD, \"/nonexistent/x\")");
	r = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	expect(r, 0, "userfaultfd(O_NONBLOCK|O_CLOEXEC)");
	if (r >= 0)
		expect(syscall(SYS_close, r), 0, "close(%ld)", r);
	r = syscall(SYS_memfd_secret, O_CLOEXEC);
	expect(r, 0, "memfd_secret(O_CLOEXEC)");
	if (r >= 0)
		expect(syscall(SYS_close, r), 0, "close(%ld)", r);
	r = syscall(SYS_pkey_alloc, 0, 2 /* PKEY_DISABLE_WRITE */);
	expect(r, 0, "pkey_alloc(0, PKEY_DISABLE_WRITE)");

	/* Structures shown on entry: what the program put there. */
	struct sysinfo_raw { long l[14]; } sinfo;
	memset(&sinfo, 0, sizeof sinfo);
	r = syscall(SYS_sysinfo, &sinfo);
	expect(r, 0, "sysinfo({uptime=0, loads=[0, 0, 0], totalram=0, freeram=0, sharedram=0, bufferram=0, totalswap=0, freeswap=0, procs=0})");
	long tx[26];
	memset(tx, 0, sizeof tx);
	tx[0] = 0x8001; /* modes: ADJ_OFFSET_SINGLESHOT */
	tx[1] = 7;      /* offset */
	tx[5] = -1;     /* status */
	tx[6] = 3;      /* constant */
	tx[11] = 10000; /* tick */
	r = syscall(SYS_clock_adjtime, 99, tx);
	expect_cut(r, "clock_adjtime", "0x63, {ADJ_OFFSET|ADJ_OFFSET_SINGLESHOT, constant=3, esterror=0, freq=0, maxerror=0, offset=7, precision=0, status=-1, tick=10000, tolerance=0}");
	unsigned int attr[16];
	memset(attr, 0, sizeof attr);
	attr[0] = 48;  /* size */
	attr[4] = 3;   /* sched_nice */
	r = syscall(SYS_sched_setattr, 0x7ffffff0, attr, 0);
	expect_cut(r, "sched_setattr", "%d, {size=48, sched_policy=0, sched_flags=0, sched_nice=3, sched_priority=0, sched_runtime=0, sched_deadline=0, sched_period=0}, 0", 0x7ffffff0);
	r = syscall(SYS_sched_getattr, 0x7ffffff0, attr, 56, 0);
	expect_cut(r, "sched_getattr", "%d, {size=48, sched_policy=0, sched_flags=0, sched_nice=3, sched_priority=0, sched_runtime=0, sched_deadline=0, sched_period=0}, 56, 0", 0x7ffffff0);
	long times2[2] = {0, 86400 + 3661};
	r = syscall(SYS_utime, path, times2);
	expect(r, 0, "utime(\"%s\", [%s, %s])", path, stap_ctime(times2[0]), stap_ctime(times2[1]));

	/* adjtimex's retstr names the clock state; an error is a number. */
	long tx0[26];
	memset(tx0, 0, sizeof tx0);
	r = syscall(SYS_adjtimex, tx0);
	expect_state(r, "adjtimex({0x0, constant=0, esterror=0, freq=0, maxerror=0, offset=0, precision=0, status=0, tick=0, tolerance=0})");
	r = syscall(SYS_adjtimex, NULL);
	expect_state(r, "adjtimex(NULL)");

	/* sysfs shows what its option reads: a name, an index, nothing. */
	char fsname[] = "proc", nofs[] = "nonexistent_fs";
	r = syscall(SYS_sysfs, 1, fsname);
	expect(r, 0, "sysfs(1, \"proc\")");
	r = syscall(SYS_sysfs, 1, nofs);
	expect(r, 0, "sysfs(1, \"nonexistent_fs\")");
	r = syscall(SYS_sysfs, 2, 0, buf);
	expect(r, 0, "sysfs(2, 0, 0x%lx)", (long)buf);
	r = syscall(SYS_sysfs, 3);
	expect(r, 0, "sysfs(3)");
	r = syscall(SYS_sysfs, 9, 7, 8);
	expect(r, 0, "sysfs(9, 0x7, 0x8)");

	/* arch_prctl by code; an unknown code in decimal. */
	unsigned long fsbase = 0;
	r = syscall(SYS_arch_prctl, ARCH_GET_FS, &fsbase);
	expect(r, 0, "arch_prctl(ARCH_GET_FS, %lu)", (unsigned long)&fsbase);
	r = syscall(SYS_arch_prctl, 0x3999, 0);
	expect(r, 0, "arch_prctl(%d, 0)", 0x3999);

	/* A message queue: its name, flags and (with O_CREAT) mode and
	 * attributes; the entry's filename_unquoted before the line. */
	char qname[64];
	snprintf(qname, sizeof qname, "stp_q_%d", (int)pid);
	r = syscall(SYS_mq_open, qname, O_RDONLY, 0, NULL);
	fprintf(out, "mq_open filename_unquoted=%s\n", qname);
	expect(r, 0, "mq_open(\"%s\", O_RDONLY)", qname);
	r = syscall(SYS_mq_open, qname, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
	fprintf(out, "mq_open filename_unquoted=%s\n", qname);
	expect(r, 0, "mq_open(\"%s\", O_RDWR|O_CREAT|O_EXCL, 0600, 0x0)", qname);
	if (r >= 0)
		expect(syscall(SYS_close, r), 0, "close(%ld)", r);
	r = syscall(SYS_mq_unlink, qname);
	expect(r, 0, "mq_unlink(\"%s\")", qname);

	/* A child stopped under ptrace: wait4's status_str on return, and
	 * what ptrace's return reads from the words it was pointed to. */
	pid_t child = fork();
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(3);
	}
	int wstatus = 0;
	r = syscall(SYS_wait4, child, &wstatus, 0, NULL);
	expect(r, 0, "wait4(%d, 0x%lx, 0x0, 0x0)", (int)child, (long)&wstatus);
	wait4_return_vars(r, &wstatus);
	long child_fs = 0x5eed;
	r = syscall(SYS_ptrace, 30 /* PTRACE_ARCH_PRCTL */, child, &child_fs, ARCH_GET_FS);
	expect(r, 0, "ptrace(PTRACE_ARCH_PRCTL, %d, 0x%lx, ARCH_GET_FS)", (int)child, (long)&child_fs);
	ptrace_return_vars(30, (long)&child_fs, ARCH_GET_FS);
	unsigned long msg = 0x5eed;
	r = syscall(SYS_ptrace, PTRACE_GETEVENTMSG, child, 0, &msg);
	expect(r, 0, "ptrace(PTRACE_GETEVENTMSG, %d, 0x0, 0x%lx)", (int)child, (long)&msg);
	ptrace_return_vars(PTRACE_GETEVENTMSG, 0, (long)&msg);
	syscall(SYS_kill, child, SIGKILL);
	r = syscall(SYS_wait4, child, &wstatus, 0, NULL);
	expect(r, 0, "wait4(%d, 0x%lx, 0x0, 0x0)", (int)child, (long)&wstatus);
	wait4_return_vars(r, &wstatus);
	r = syscall(SYS_wait4, -1, &wstatus, 0, NULL);
	expect(r, 0, "wait4(-1, 0x%lx, 0x0, 0x0)", (long)&wstatus);
	wait4_return_vars(r, &wstatus);
	goto done;

rest:;

	char *args[] = {"/nonexistent/prog", "one", "two words", "tab\there", NULL};
	char *env[] = {"A=1", "B=2", NULL};
	r = syscall(SYS_execve, args[0], args, env);
	expect(r, 0, "execve(\"/nonexistent/prog\", [\"/nonexistent/prog\", \"one\", \"two words\", \"tab\\there\"], [\"A=1\", \"B=2\"])");
	/* More strings than 16: stap lists them until MAXSTRINGLEN fills. */
	char *many[21], names[20][2], list[256] = "";
	for (int i = 0; i < 20; i++) {
		names[i][0] = i ? 'a' + i : '/';
		names[i][1] = 0;
		many[i] = names[i];
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", names[i]);
	}
	many[20] = NULL;
	r = syscall(SYS_execve, "/", many, env);
	expect_cut(r, "execve", "\"/\", [%s], [\"A=1\", \"B=2\"]", list);
	r = syscall(SYS_execveat, AT_FDCWD, args[0], args, env, AT_SYMLINK_NOFOLLOW);
	expect(r, 0, "execveat(AT_FDCWD, \"/nonexistent/prog\", [\"/nonexistent/prog\", \"one\", \"two words\", \"tab\\there\"], [\"A=1\", \"B=2\"], AT_SYMLINK_NOFOLLOW)");
	r = syscall(SYS_getpid);
	expect(r, 0, "getpid()");

done:
	r = syscall(SYS_close, -1001);
	expect(r, 0, "close(-1001)");
	fclose(out);
	return 0;
}
