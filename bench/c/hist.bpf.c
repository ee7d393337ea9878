/* A power-of-two histogram of the low 20 bits of the clock, per CPU, as
 * the kernel's own tools (biolatency and friends) keep one: a bucket
 * array. stp's and bpftrace's statistics also keep count, sum, min and
 * max; this is the least a histogram needs. */
#include "common.h"

#define BUCKETS 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 b = 0;

	/* Bucket 0 holds 0; bucket k holds [2^(k-1), 2^k). */
	if (v >= 1 << 16) { v >>= 16; b += 16; }
	if (v >= 1 << 8) { v >>= 8; b += 8; }
	if (v >= 1 << 4) { v >>= 4; b += 4; }
	if (v >= 1 << 2) { v >>= 2; b += 2; }
	if (v >= 1 << 1) { v >>= 1; b += 1; }
	return v ? b + 1 : 0;
}

TRACEPOINT int hist(void *ctx)
{
	__u32 k = log2_bucket(bpf_ktime_get_ns() & 0xfffff);
	__u64 *n = bpf_map_lookup_elem(&values, &k);

	if (n)
		(*n)++;
	return 0;
}
