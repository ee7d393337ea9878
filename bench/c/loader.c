/* Loads a hand-written workload object, attaches its programs (libbpf,
 * by section name), runs a command under it and serves its ring buffer:
 *
 *   loader OBJECT.bpf.o -c COMMAND
 *
 * Runs `/bin/sh -c COMMAND` and, while it runs, prints each record of the
 * object's `events` ring buffer (if it has one) as "%d %s\n" (pid, process
 * name) through stdio, as a libbpf tool would (ring_buffer__poll, then
 * fwrite). At the end it prints "lost N" on stderr: the records the
 * program had no room for (its per-CPU `lost` counter). Exit status: the
 * command's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct event {
	unsigned int pid;
	char comm[16];
};

static int print_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	char line[64];
	int n;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	n = snprintf(line, sizeof(line), "%u %.16s\n", e->pid, e->comm);
	fwrite(line, 1, n, stdout);
	return 0;
}

static unsigned long long lost_records(struct bpf_object *obj)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "lost");
	int cpus = libbpf_num_possible_cpus();
	unsigned long long sum = 0, *values;
	unsigned int zero = 0;

	if (!map || cpus <= 0 || !(values = calloc(cpus, sizeof(*values))))
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, values) == 0)
		for (int i = 0; i < cpus; i++)
			sum += values[i];
	free(values);
	return sum;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *events;
	struct ring_buffer *rb = NULL;
	int status = 0;
	pid_t child;

	if (argc != 4 || strcmp(argv[2], "-c") != 0) {
		fprintf(stderr, "usage: %s OBJECT -c COMMAND\n", argv[0]);
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "loader: cannot load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "loader: cannot attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
	}
	events = bpf_object__find_map_by_name(obj, "events");
	if (events && !(rb = ring_buffer__new(bpf_map__fd(events), print_event, NULL, NULL))) {
		fprintf(stderr, "loader: cannot map the ring buffer\n");
		return 1;
	}
	child = fork();
	if (child == 0) {
		execl("/bin/sh", "sh", "-c", argv[3], (char *)NULL);
		_exit(127);
	}
	if (child < 0)
		return 1;
	for (;;) {
		pid_t done = waitpid(child, &status, WNOHANG);

		if (done == child)
			break;
		if (rb)
			ring_buffer__poll(rb, 100);
		else
			usleep(20000);
	}
	if (rb) {
		ring_buffer__consume(rb);
		ring_buffer__free(rb);
	}
	fflush(stdout);
	fprintf(stderr, "lost %llu\n", lost_records(obj));
	bpf_object__close(obj);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
