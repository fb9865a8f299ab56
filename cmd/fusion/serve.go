package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the hub: the TAXII 2.1 API, the admin API, /healthz and /metrics",
		usage: "[--addr 127.0.0.1:8080] [--data DIR] [--db URL] [--max-page-size N] [--max-content-length BYTES]\n" +
			"       [--rate R] [--burst N] [--tls-cert FILE --tls-key FILE] [--public-url URL] [--metrics-addr ADDR]\n" +
			"       [--trusted-proxy CIDR,...] [--audit-key FILE] [--hub-name NAME] [--demo]\n" +
			"       [--disseminate-every DURATION]\n\n" +
			"On an empty store, serve creates the hub organisation and an admin token: FUSION_ADMIN_TOKEN\n" +
			"if set, otherwise a new token printed once and written to DATA/admin.token (mode 0600).\n" +
			"--demo also seeds an empty store with a partner, a member country, a collection of the\n" +
			"OASIS example bundles and tokens, and prints curl commands to try them.\n" +
			"serve signs the audit log's checkpoints with DATA/audit.key (created for fusion.hub/NAME\n" +
			"when missing; see fusion audit key) and integrates the entries every command appended.",
		run: runServe,
	})
}

func runServe(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var kf auditKeyFlags
	kf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (plain HTTP only on loopback or behind a TLS proxy)")
	maxPage := fs.Int("max-page-size", 1000, "largest TAXII page; larger limit values are clamped")
	maxContent := fs.String("max-content-length", "100MiB", "largest TAXII POST body (`SIZE` in bytes, or with KiB/MiB/GiB), advertised in the API root")
	rateFlag := fs.Float64("rate", 50, "requests per second allowed per API token (0: no limit)")
	burst := fs.Int("burst", 100, "requests a token may send at once before --rate applies")
	tlsCert := fs.String("tls-cert", "", "TLS certificate `file` (PEM); with --tls-key, serve HTTPS (TLS 1.2 or later)")
	tlsKey := fs.String("tls-key", "", "TLS private key `file` (PEM)")
	publicURL := fs.String("public-url", os.Getenv("FUSION_PUBLIC_URL"), "base `URL` clients use (for TAXII discovery), e.g. https://fusion.example.org; default: from each request (env FUSION_PUBLIC_URL)")
	metricsAddr := fs.String("metrics-addr", "", "also serve /metrics without authentication on this `address` (e.g. 127.0.0.1:9090); /metrics on --addr needs a hub admin token")
	proxies := fs.String("trusted-proxy", "", "comma-separated `CIDRs` or addresses of reverse proxies whose X-Forwarded-For names the client (for the limit on failed logins and the logs)")
	demo := fs.Bool("demo", false, "seed an empty store with demo organisations, a collection and tokens, and print curl commands")
	disseminateEvery := fs.Duration("disseminate-every", 0, "run fusion disseminate every `DURATION` (e.g. 1h; 0: never). Run it on one node only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	contentLen, err := parseSize(*maxContent)
	if err != nil {
		return fmt.Errorf("--max-content-length: %w", err)
	}
	if *maxPage < 1 || *maxPage > 100000 {
		return fmt.Errorf("--max-page-size must be from 1 to 100000")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var trusted []netip.Prefix
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("--trusted-proxy: %q is not an address or CIDR", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		trusted = append(trusted, pfx)
	}
	r := *rateFlag
	switch {
	case r < 0:
		return errors.New("--rate must be 0 (no limit) or positive")
	case r == 0:
		r = -1 // the server's "no limit"
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	st, err := openStore(ctx, sf.db, sf.data)
	if err != nil {
		return err
	}
	defer st.Close()

	key, created, err := kf.load(sf.data)
	if err != nil {
		return err
	}
	if created {
		log.Info("created the audit log signing key; keep it secret, back it up, give every node the same key",
			"file", kf.path(sf.data), "name", key.Name)
	}
	auditLog := audit.New(st.(store.Log), key, audit.Config{Logger: log}) // openStore checked it is a store.Log
	actx, stopAudit := context.WithCancel(ctx)
	auditDone := make(chan struct{})
	go func() { auditLog.Run(actx); close(auditDone) }()
	defer func() { stopAudit(); <-auditDone }() // before the store closes
	// Served and denied entries go through a spool file of this node's
	// own (audit.Log.OpenSpool): one write per response instead of one
	// transaction. Opening it stores what a killed process left in it.
	spoolPath := filepath.Join(sf.data, "audit.spool")
	if err := auditLog.OpenSpool(ctx, spoolPath); err != nil {
		return err
	}
	defer func() { // after the server stops, before the integrator and the store
		if err := auditLog.CloseSpool(context.WithoutCancel(ctx)); err != nil {
			log.Error("audit spool: entries left in the spool for the next start", "file", spoolPath, "err", err)
		}
	}()

	now := time.Now()
	boot, err := server.Bootstrap(ctx, st, sf.data, os.Getenv("FUSION_ADMIN_TOKEN"), now)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	switch {
	case boot.Done && boot.FromEnv:
		fmt.Fprintf(stdout, "Created the hub organisation %q; its admin token is the one in FUSION_ADMIN_TOKEN.\n", server.HubOrgName)
	case boot.Done:
		fmt.Fprintf(stdout, "Created the hub organisation %q and its admin token (shown once, also in %s):\n\n    %s\n\n",
			server.HubOrgName, boot.TokenFile, boot.Token)
	}

	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	var seeded *server.Demo
	if *demo {
		if !boot.Done {
			fmt.Fprintln(stdout, "--demo: the store is not empty, so nothing was seeded (tokens are shown only when created).")
		} else {
			d, err := server.SeedDemo(ctx, st, policy.ValidateObject, now)
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			seeded = &d
		}
	}

	srv := server.New(st, server.Config{
		Addr: *addr, MaxPageSize: *maxPage, MaxContentLength: contentLen, Rate: r, Burst: *burst,
		TLSCert: *tlsCert, TLSKey: *tlsKey, PublicURL: *publicURL, MetricsAddr: *metricsAddr, TrustedProxies: trusted,
		Validate: policy.ValidateObject, Audit: auditLog, Logger: log,
	})
	startDisseminating(ctx, st, sf.data, *disseminateEvery, log)
	return srv.Run(ctx, func(bound string) {
		base := *publicURL
		if base == "" {
			base = scheme + "://" + bound
		}
		base = strings.TrimRight(base, "/")
		if seeded != nil {
			printDemo(stdout, base, *seeded, *tlsCert != "")
		}
		log.Info("fusion serving", "addr", bound, "tls", *tlsCert != "", "store", storeKind(sf.db))
	})
}

func storeKind(db string) string {
	if strings.HasPrefix(db, "postgres") {
		return "postgres"
	}
	return "sqlite"
}

// parseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (16<<30)/mult {
		return 0, fmt.Errorf("%q: want a positive size up to 16GiB, such as 104857600 or 100MiB", s)
	}
	return n * mult, nil
}

// printDemo prints the demo's organisations, tokens and curl commands.
func printDemo(w io.Writer, base string, d server.Demo, tlsOn bool) {
	k := ""
	if tlsOn {
		k = "-k " // the demo is usually run with a self-signed certificate
	}
	coll := base + "/" + d.Collection.APIRoot + "/collections/" + d.Collection.ID + "/"
	const accept = `-H 'Accept: application/taxii+json;version=2.1'`
	var u [16]byte
	rand.Read(u[:])
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	id := fmt.Sprintf("indicator--%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	ts := stix.FormatTimestamp(time.Now().UTC().Truncate(time.Millisecond))
	env := fmt.Sprintf(`{"objects":[{"type":"indicator","spec_version":"2.1","id":"%s","created":"%s","modified":"%s","name":"C2 server seen by acme","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"%s"}]}`, id, ts, ts, ts)

	fmt.Fprintf(w, "Demo seeded: collection %q (alias %s, id %s) with %d OASIS example objects", d.Collection.Title, d.Collection.Alias, d.Collection.ID, d.Objects)
	if d.Rejected > 0 {
		fmt.Fprintf(w, " (%d rejected: %s)", d.Rejected, strings.Join(d.RejectReasons, "; "))
	}
	fmt.Fprintf(w, ".\n\n")
	fmt.Fprintf(w, "  partner %-14s token (write): %s\n", d.Partner.Name, d.PartnerToken)
	fmt.Fprintf(w, "  member  %-14s token (read, %s): %s\n\n", d.Member.Name, d.Member.Country, d.MemberToken)
	fmt.Fprintf(w, "The partner pushes an indicator (HTTP Basic: organisation name and token):\n\n")
	fmt.Fprintf(w, "  curl %s-u '%s:%s' %s \\\n    -H 'Content-Type: application/taxii+json;version=2.1' \\\n    --data '%s' \\\n    %sobjects/\n\n",
		k, d.Partner.Name, d.PartnerToken, accept, strings.ReplaceAll(env, "'", `'\''`), coll)
	fmt.Fprintf(w, "The member country reads the newest objects (Bearer token):\n\n")
	fmt.Fprintf(w, "  curl -g %s-H 'Authorization: Bearer %s' %s \\\n    '%sobjects/?limit=5&match[type]=indicator'\n\n", k, d.MemberToken, accept, coll)
	fmt.Fprintf(w, "and the manifest, following 'next' to page:\n\n")
	fmt.Fprintf(w, "  curl %s-H 'Authorization: Bearer %s' %s '%smanifest/?limit=10'\n\n", k, d.MemberToken, accept, coll)
	fmt.Fprintf(w, "Discovery: curl %s-u '%s:%s' %s %s/taxii2/\n\n", k, d.Member.Name, d.MemberToken, accept, base)
}
