/* A global counter, per CPU: no atomic operation and no shared cache line
 * (user space would sum the CPUs' values). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

TRACEPOINT int counter(void *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &zero);

	if (n)
		(*n)++;
	return 0;
}
