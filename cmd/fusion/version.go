package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func init() {
	register(&command{
		name:    "version",
		summary: "print the version of this build",
		run: func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
			if err := fs.Parse(args); err != nil {
				return err
			}
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(stdout, "fusion %s (%s)\n", v, bi.GoVersion)
				return nil
			}
			fmt.Fprintf(stdout, "fusion %s\n", v)
			return nil
		},
	})
}
