// Command stixgen writes synthetic STIX 2.1 content for benchmarks and
// load tests: a bundle (default), JSON lines or a JSON array of -n objects
// generated deterministically from -seed. It is a development tool, not
// part of the fusion binary.
//
//	go run ./internal/gen/cmd/stixgen -n 1000000 -seed 1 > big.json
package main

import (
	"flag"
	"fmt"
	"os"

	"fusion/internal/gen"
)

func main() {
	n := flag.Int("n", 1000, "number of objects")
	seed := flag.Uint64("seed", 1, "random seed; the same seed gives the same output")
	format := flag.String("format", "bundle", "output layout: bundle, jsonl or array")
	flag.Parse()
	f, err := gen.ParseFormat(*format)
	if err == nil && *n < 0 {
		err = fmt.Errorf("-n must not be negative")
	}
	if err == nil {
		err = gen.Write(os.Stdout, *n, *seed, f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stixgen:", err)
		os.Exit(1)
	}
}
