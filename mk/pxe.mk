# pxe: TFTP and HTTP boot server comparison benchmarks (root: network
# namespaces). Figures and how to read them: pxe/README.md.
.PHONY: bench-tftp bench-tftp-cpu bench-http

bench: bench-tftp bench-http

# 64 MiB with atftp blksize 1468 (ironkit vs tftpd-hpa over the same veth,
# and the lock-step ceiling pxe/bench/lockstep), a send-ahead window sweep,
# and 20 concurrent clients.
bench-tftp:
	IRONKIT_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestBenchTFTP$$' -v ./pxe/

# Server and client CPU per TFTP block (perf), ironkit vs tftpd-hpa vs the
# lock-step ceiling: what the lock-step figures rest on on a shared machine.
bench-tftp-cpu:
	GO=$(GO) pxe/bench/tftp-cpu.sh 7 20

# 200 concurrent connections fetching a 100 MiB file (wrk), ironkit vs nginx.
bench-http:
	IRONKIT_BENCH=1 $(GO) test -count=1 -timeout 30m -run '^TestBenchHTTP$$' -v ./pxe/
