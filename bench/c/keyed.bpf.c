/* A count keyed by process name: the name read into a fixed 16-byte key,
 * per-CPU values (the first event of a name inserts it). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 10240);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, __u64);
} calls SEC(".maps");

TRACEPOINT int keyed(void *ctx)
{
	char comm[TASK_COMM_LEN] = {};
	__u64 one = 1, *n;

	bpf_get_current_comm(comm, sizeof(comm));
	n = bpf_map_lookup_elem(&calls, comm);
	if (n)
		(*n)++;
	else
		bpf_map_update_elem(&calls, comm, &one, BPF_NOEXIST);
	return 0;
}
