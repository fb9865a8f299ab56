package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/disseminate"
	"fusion/internal/geoip"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

func init() {
	register(&command{
		name:    "disseminate",
		summary: "write each member country's cyber activity report from what concerns it",
		usage: "[--since TS] [--db URL | --data DIR] [--json]\n\n" +
			"disseminate finds the indicators, infrastructure and address/domain observables added since the last\n" +
			"run (or since --since) whose IP addresses the hub's geolocation database (fusion geoip load) places in\n" +
			"a member country, or whose domains are under its country-code TLD, and writes for each member a STIX\n" +
			"report naming them, with copies of them, into the member's own read-only collection. Only what the\n" +
			"sharing policy lets that member see is named or copied. Re-running with nothing new writes nothing.\n" +
			"docs/dissemination.md explains.",
		run: runDisseminate,
	})
}

func runDisseminate(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	since := fs.String("since", "", "only objects added after this STIX `timestamp` (e.g. 2026-11-01T00:00:00Z); default: since the last run")
	asJSON := fs.Bool("json", false, "print the run's result as JSON instead of a summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var sinceT time.Time
	if *since != "" {
		t, err := stix.ParseTimestamp(*since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		sinceT = t
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	geo, err := geoip.Current(ctx, st, sf.data)
	if err != nil {
		return err
	}
	cfg := disseminate.Config{Geo: geo, Since: sinceT, Exclude: []string{server.SharingCollectionID}}
	tty := isTerminal(stderr)
	var stopBar func()
	if tty {
		cfg.Progress, stopBar = disseminateProgress(stderr)
	}
	res, err := disseminate.Run(ctx, st, cfg)
	if stopBar != nil {
		stopBar()
	}
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if tty {
		for _, m := range res.Members {
			fmt.Fprintf(stderr, "%s (%s): %d objects, %d new, %d withheld by the policy, %d new reports\n",
				m.Name, m.Country, m.Objects, m.Added, m.Withheld, len(m.Reports))
		}
	}
	fmt.Fprintln(stdout, disseminateSummary(res))
	return nil
}

// disseminateSummary is the one line a run prints.
func disseminateSummary(res disseminate.Result) string {
	if res.NoMembers {
		return "disseminate: no member country to disseminate to"
	}
	return fmt.Sprintf("disseminate: %d objects examined, %d members concerned, %d new reports, %d objects newly stored, %d withheld by the policy, %.1fs",
		res.Examined, len(res.Members), res.Reports, res.Added, res.Withheld, res.Finished.Sub(res.Started).Seconds())
}

// disseminateProgress redraws one status line on a terminal a few times a second.
func disseminateProgress(w io.Writer) (func(disseminate.Progress), func()) {
	var mu sync.Mutex
	var last disseminate.Progress
	start := time.Now()
	stop := progressLine(w, func() string {
		mu.Lock()
		p := last
		mu.Unlock()
		return fmt.Sprintf("collection %s  %d examined  %d delivered  %.0f objects/s",
			p.Collection, p.Examined, p.Delivered, rate(p.Examined, time.Since(start)))
	})
	return func(p disseminate.Progress) {
		mu.Lock()
		last = p
		mu.Unlock()
	}, stop
}

// startDisseminating runs dissemination every interval until ctx ends
// (fusion serve --disseminate-every). Runs never overlap; a failed run is
// logged and retried at the next tick.
func startDisseminating(ctx context.Context, st store.Store, dataDir string, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		warned := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			geo, err := geoip.Current(ctx, st, dataDir)
			if errors.Is(err, geoip.ErrNotLoaded) {
				if !warned {
					log.Warn("scheduled dissemination skipped: no geoip database loaded (fusion geoip load FILE.mmdb)")
					warned = true
				}
				continue
			}
			if err != nil {
				log.Error("scheduled dissemination: geoip database", "err", err)
				continue
			}
			res, err := disseminate.Run(ctx, st, disseminate.Config{Geo: geo, Exclude: []string{server.SharingCollectionID}})
			if err != nil {
				log.Error("scheduled dissemination failed", "err", err)
				continue
			}
			log.Info("scheduled dissemination", "examined", res.Examined, "members", len(res.Members),
				"reports", res.Reports, "added", res.Added, "withheld", res.Withheld)
		}
	}()
}
