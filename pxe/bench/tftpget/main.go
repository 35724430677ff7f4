// Command tftpget fetches one file N times, one transfer after another,
// with pin/tftp's client, and prints the distribution of the time per
// transfer: the per-transfer cost of a server (open, socket, OACK, logging,
// MAC lookup) without the process start-up that dominates when atftp is run
// once per transfer. Used for the per-transfer figures in pxe/README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"sort"
	"time"

	"github.com/pin/tftp/v3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:69", "server address")
	file := flag.String("file", "", "file to fetch")
	n := flag.Int("n", 500, "transfers")
	blksize := flag.Int("blksize", 1468, "blksize option (0: none)")
	flag.Parse()
	var ds []time.Duration
	for i := 0; i < *n; i++ {
		c, err := tftp.NewClient(*addr)
		if err != nil {
			log.Fatal(err)
		}
		if *blksize > 0 {
			c.SetBlockSize(*blksize)
		}
		c.SetTimeout(2 * time.Second)
		start := time.Now()
		wt, err := c.Receive(*file, "octet")
		if err == nil {
			_, err = wt.WriteTo(io.Discard)
		}
		if err != nil {
			log.Fatalf("transfer %d: %v", i, err)
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Printf("%s %s: %d transfers, p10 %v, median %v, p90 %v\n", *addr, *file, len(ds),
		ds[len(ds)/10].Round(time.Microsecond), ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*9/10].Round(time.Microsecond))
}
