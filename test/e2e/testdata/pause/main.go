// Command pause is the real-node tests' sandbox ("pause") image: it blocks
// until SIGTERM or SIGINT, like Kubernetes' pause, and is built into an
// image the same way as podid (cmd/podid-image), since no registry is
// reachable.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
