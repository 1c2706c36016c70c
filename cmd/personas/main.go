// Command personas runs the Personas pipeline: anonymous personalisation
// from clickstreams on Kafka and Redis. It only parses flags and wires the
// packages together; see `personas --help`.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "personas:", err)
		os.Exit(exitCode(err))
	}
}
