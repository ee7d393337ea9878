/*
 * measure.c: runs a command and reports what it cost, for bench/run.sh.
 *
 *     measure OUT CMD [ARG...]
 *
 * Forks, executes CMD with its standard output and error sent to OUT (a
 * file, truncated), waits for it with wait4(2) and prints one line on
 * standard output:
 *
 *     wall_s=W maxrss_kb=M status=S
 *
 * W is the wall time from fork to reaping, M the kernel's peak resident
 * set size of the command (the largest of it and the children it reaped),
 * S its exit status (128+N when killed by signal N).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT CMD [ARG...]\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	close(fd);
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("wall_s=%.6f maxrss_kb=%ld status=%d\n", wall, ru.ru_maxrss, code);
	return 0;
}
