package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"fusion/internal/disseminate"
	"fusion/internal/geoip"
)

func init() {
	register(&command{
		name:    "geoip",
		summary: "the hub's IP-to-country database (MaxMind DB format) for dissemination",
		usage: "load [--db URL | --data DIR] FILE.mmdb\n" +
			"       fusion geoip lookup [--db URL | --data DIR] [--file FILE.mmdb] IP|CIDR...\n" +
			"       fusion geoip show [--db URL | --data DIR]\n\n" +
			"load checks FILE (a MaxMind DB country or city database, e.g. GeoLite2-Country.mmdb) and makes it the\n" +
			"hub's: it is copied into the store (for every node sharing it) and to DATA/geoip/country.mmdb,\n" +
			"replacing the previous one atomically. lookup prints the country of each address or CIDR (every\n" +
			"country a CIDR overlaps) as fusion disseminate sees it. show describes the loaded database.",
		run: runGeoIP,
	})
}

func runGeoIP(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fs.Usage()
		return exitError{2}
	}
	sub, rest := args[0], args[1:]
	fs.Init("fusion geoip "+sub, flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	switch sub {
	case "load":
		return geoipLoad(ctx, fs, &sf, rest, stdout)
	case "lookup":
		return geoipLookup(ctx, fs, &sf, rest, stdout)
	case "show":
		return geoipShow(ctx, fs, &sf, rest, stdout)
	case "-h", "--help", "help":
		fs.Usage()
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown subcommand %q: want load, lookup or show", sub)
}

func geoipLoad(ctx context.Context, fs *flag.FlagSet, sf *storeFlags, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("load needs exactly one FILE.mmdb")
	}
	path := fs.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// Check the file before opening (or creating) the store.
	if _, err := geoip.Parse(path, b); err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := geoip.Save(ctx, st, sf.data, path, b, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %s: %s, %d bytes, built %s, sha256 %s\n", m.Name, m.Type, m.Size, m.Built.Format("2006-01-02"), m.SHA256)
	return nil
}

// openGeo is the database a command uses: --file when given, else the
// hub's current one.
func openGeo(ctx context.Context, sf *storeFlags, file string) (*geoip.DB, error) {
	if file != "" {
		return geoip.OpenFile(file)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return geoip.Current(ctx, st, sf.data)
}

func geoipLookup(ctx context.Context, fs *flag.FlagSet, sf *storeFlags, args []string, stdout io.Writer) error {
	file := fs.String("file", "", "look up in this .mmdb `file` instead of the hub's database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("lookup needs at least one IP address or CIDR")
	}
	var prefixes []netip.Prefix
	for _, a := range fs.Args() {
		p, err := parseIPOrCIDR(a)
		if err != nil {
			return err
		}
		prefixes = append(prefixes, p)
	}
	db, err := openGeo(ctx, sf, *file)
	if err != nil {
		return err
	}
	for i, p := range prefixes {
		var ccs []string
		if p.IsSingleIP() {
			if cc := db.Country(p.Addr()); cc != "" {
				ccs = []string{cc}
			}
		} else {
			ccs = db.Countries(p)
		}
		if len(ccs) == 0 {
			fmt.Fprintf(stdout, "%s\t-\tunknown\n", fs.Arg(i))
			continue
		}
		names := make([]string, len(ccs))
		for j, cc := range ccs {
			names[j] = disseminate.CountryName(cc)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", fs.Arg(i), strings.Join(ccs, ","), strings.Join(names, ", "))
	}
	return nil
}

func parseIPOrCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func geoipShow(ctx context.Context, fs *flag.FlagSet, sf *storeFlags, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := geoip.Stored(ctx, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "file\t%s\ntype\t%s\nbuilt\t%s\nsize\t%d\nsha256\t%s\nloaded\t%s\n",
		m.Name, m.Type, m.Built.Format(time.RFC3339), m.Size, m.SHA256, m.Loaded.Format(time.RFC3339))
	return nil
}
