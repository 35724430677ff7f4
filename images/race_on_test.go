//go:build race

package images_test

// raceEnabled: the race detector annotates every byte copied through a
// syscall or copy(), which makes 10 GiB transfers several times slower.
const raceEnabled = true
