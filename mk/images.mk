# images: benchmark and long tests (see images/README.md for figures).
.PHONY: bench-images test-images-big
bench: bench-images

# Region → rack sync of 4 GiB over loopback against curl of the same files,
# same run; prints throughput, ratios and the rack's peak RSS. Needs curl and
# ~9 GiB free under $TMPDIR.
bench-images:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	$(GO) build -o "$$d/imagesbench" ./images/internal/imagesbench && \
	"$$d/imagesbench" -size 4096 -files 4 -runs 3

# The 10 GiB custom image: streamed upload to a region process and the full
# region → rack sync, with flat memory (without the race detector: ~1-2 min).
test-images-big:
	IRONKIT_IMAGES_BIG=1 $(GO) test -count=1 -run TestUpload10GiBSparseFlatMemory -v -timeout 30m ./images/
