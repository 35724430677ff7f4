// Command tftpserve runs the pxe TFTP server on a directory as a process of
// its own, for benchmarks that measure its CPU (pxe/bench/tftp-cpu.sh) or
// profile it (-cpuprofile). Interrupt it to stop.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/ironkit/ironkit/pxe"
)

func main() {
	addr := flag.String("addr", ":69", "listen address")
	dir := flag.String("dir", ".", "root directory")
	sendAhead := flag.Uint("send-ahead", pxe.DefaultSendAhead, "send-ahead window for clients without windowsize")
	cpuProfile := flag.String("cpuprofile", "", "write a pprof CPU profile to this file until interrupted")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	files, err := pxe.NewDirFiles(*dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	s := pxe.NewTFTPServer(files, pxe.WithAddr(*addr), pxe.WithSendAhead(*sendAhead),
		pxe.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err := s.Run(ctx); err != nil {
		log.Print(err)
	}
}
