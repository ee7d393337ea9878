/*
 * mixed.c: the event source of bench/syscalls.sh. Makes N rounds of eight
 * different system calls through syscall(2) (getppid, getpid, read of
 * /dev/zero, write to /dev/null, lseek, fstat, clock_gettime, close of a
 * bad fd), so that a tracer of every system call sees a mix of call
 * numbers, then prints
 *
 *     calls=C ns_per_call=X
 *
 * on standard error.
 *
 *     mixed N
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? atol(argv[1]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: %s N\n", argv[0]);
		return 2;
	}
	int z = open("/dev/zero", O_RDONLY), nul = open("/dev/null", O_WRONLY);
	if (z < 0 || nul < 0)
		return 1;
	char c;
	struct stat st;
	struct timespec ts;
	uint64_t start = now_ns();
	for (long i = 0; i < n; i++) {
		syscall(SYS_getppid);
		syscall(SYS_getpid);
		syscall(SYS_read, z, &c, 1);
		syscall(SYS_write, nul, &c, 1);
		syscall(SYS_lseek, z, 0, SEEK_SET);
		syscall(SYS_fstat, z, &st);
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
		syscall(SYS_close, -1);
	}
	uint64_t t = now_ns() - start;
	fprintf(stderr, "calls=%ld ns_per_call=%.1f\n", 8 * n, (double)t / (double)(8 * n));
	return 0;
}
