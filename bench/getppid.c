/*
 * getppid.c: the event source of bench/run.sh. Calls getppid(2) N times
 * through syscall(2), so that each call enters the kernel and fires
 * syscalls:sys_enter_getppid, then prints
 *
 *     calls=N ns_per_call=X elapsed_ns=T pid=P
 *
 * on standard error (standard output may be shared with the tracer's).
 * With a RATE argument (calls per second), the calls are paced to that
 * rate by spinning on CLOCK_MONOTONIC instead of made as fast as possible.
 *
 *     getppid N [RATE]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v == 0)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n, rate = 0;
	if (argc < 2 || argc > 3 || parse_u64(argv[1], &n) ||
	    (argc == 3 && parse_u64(argv[2], &rate))) {
		fprintf(stderr, "usage: %s N [RATE]\n", argv[0]);
		return 2;
	}
	uint64_t start = now_ns();
	if (rate == 0) {
		for (uint64_t i = 0; i < n; i++)
			syscall(SYS_getppid);
	} else {
		/* Call i is due at start + i / rate seconds. */
		for (uint64_t i = 0; i < n; i++) {
			uint64_t due = start + (uint64_t)((double)i * 1e9 / (double)rate);
			while (now_ns() < due)
				;
			syscall(SYS_getppid);
		}
	}
	uint64_t elapsed = now_ns() - start;
	fprintf(stderr, "calls=%" PRIu64 " ns_per_call=%.1f elapsed_ns=%" PRIu64 " pid=%d\n",
		n, (double)elapsed / (double)n, elapsed, (int)getpid());
	return 0;
}
