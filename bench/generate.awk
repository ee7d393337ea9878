# generate.awk: writes a script of exactly `lines` lines for timing
# compilation, as SystemTap (kind=stp) or as its bpftrace equivalent
# (kind=bt): blocks of five lines, each a probe on
# syscalls:sys_enter_getppid with a condition, a keyed count, a sum and a
# histogram, then comment lines to make up the count.
#
#   awk -v kind=stp -v lines=1000 -f bench/generate.awk
BEGIN {
	n = 1
	if (kind == "stp") print "global counts, total, sizes"
	else print "BEGIN { @total = 0; }"
	for (k = 1; n + 5 <= lines; k++) {
		if (kind == "stp") {
			print "probe kernel.trace(\"syscalls:sys_enter_getppid\") {"
			printf "  if (pid() > %d) { counts[execname()]++ }\n", k
			printf "  else { total += %d }\n", k
			printf "  sizes <<< tid() + %d\n", k
			print "}"
		} else {
			print "tracepoint:syscalls:sys_enter_getppid {"
			printf "  if (pid > %d) { @counts[comm] = count(); }\n", k
			printf "  else { @total = @total + %d; }\n", k
			printf "  @sizes = hist(tid + %d);\n", k
			print "}"
		}
		n += 5
	}
	for (; n < lines; n++) print "//"
}
