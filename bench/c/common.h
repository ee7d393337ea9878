/* What every hand-written workload program needs: the helpers' prototypes
 * and the tracepoint the benchmark fires (getppid's entry, as the stp and
 * bpftrace workloads use). */
#ifndef BENCH_C_COMMON_H
#define BENCH_C_COMMON_H
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TRACEPOINT SEC("tracepoint/syscalls/sys_enter_getppid")
#define TASK_COMM_LEN 16

char LICENSE[] SEC("license") = "GPL";
#endif
