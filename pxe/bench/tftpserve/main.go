// Command tftpserve runs the pxe TFTP server on a directory, for benchmarks.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"github.com/ironkit/ironkit/pxe"
)

func main() {
	addr := flag.String("addr", ":69", "listen address")
	dir := flag.String("dir", ".", "root directory")
	sendAhead := flag.Uint("send-ahead", pxe.DefaultSendAhead, "send-ahead window for clients without windowsize")
	flag.Parse()
	files, err := pxe.NewDirFiles(*dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	s := pxe.NewTFTPServer(files, pxe.WithAddr(*addr), pxe.WithSendAhead(*sendAhead),
		pxe.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err := s.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
