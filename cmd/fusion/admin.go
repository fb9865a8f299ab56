package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/server"
)

// The org, token and collection commands manage a running hub through its
// admin API (/api/v1/). They need an admin token.

func init() {
	register(&command{
		name:    "org",
		summary: "manage organisations (partners, the hub, member countries) of a running hub",
		usage: "add NAME --kind partner|hub|member [--country CC]\n" +
			"       fusion org list\n\n" +
			"common flags: --server URL (env FUSION_SERVER, default http://127.0.0.1:8080), --token TOKEN (env FUSION_TOKEN)",
		run: runOrg,
	})
	register(&command{
		name:    "token",
		summary: "create, list and revoke API tokens of a running hub",
		usage: "add --org NAME --role read|write|admin [--expires 90d] [--label TEXT]\n" +
			"       fusion token list [--org NAME]\n" +
			"       fusion token revoke ID\n\n" +
			"A new token is printed once; the hub keeps only its hash.\n" +
			"common flags: --server URL (env FUSION_SERVER, default http://127.0.0.1:8080), --token TOKEN (env FUSION_TOKEN)",
		run: runToken,
	})
	register(&command{
		name:    "collection",
		summary: "create, list and grant access to TAXII collections of a running hub",
		usage: "add TITLE [--alias A] [--root R] [--description D]\n" +
			"       fusion collection list\n" +
			"       fusion collection grant COLLECTION --org NAME [--read] [--write]\n\n" +
			"COLLECTION is an id or an alias. A grant replaces the organisation's previous one;\n" +
			"a grant with neither --read nor --write removes its access.\n" +
			"common flags: --server URL (env FUSION_SERVER, default http://127.0.0.1:8080), --token TOKEN (env FUSION_TOKEN)",
		run: runCollection,
	})
}

// adminClient calls the admin API.
type adminClient struct {
	server string
	token  string
	http   *http.Client
}

// clientFlags adds --server and --token to fs.
func clientFlags(fs *flag.FlagSet) *adminClient {
	c := &adminClient{http: &http.Client{Timeout: 60 * time.Second}}
	def := os.Getenv("FUSION_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&c.server, "server", def, "hub base `URL` (env FUSION_SERVER)")
	// The token's default is read when used, not shown in --help.
	fs.StringVar(&c.token, "token", "", "admin API `token` (default: env FUSION_TOKEN)")
	return c
}

// do sends a JSON request and decodes a JSON answer into out. A non-2xx
// answer becomes an error carrying the server's description.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.doRaw(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.doRaw(ctx, method, path, "application/json", b, out)
}

// doRaw sends body as is (content type ctype; none when empty) and
// decodes a JSON answer into out (unless it is 204 No Content). A non-2xx
// answer becomes an error carrying the server's description.
func (c *adminClient) doRaw(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	if c.token == "" {
		c.token = os.Getenv("FUSION_TOKEN")
	}
	if c.token == "" {
		return errors.New("no admin token: pass --token or set FUSION_TOKEN (the hub printed one at its first start, also in DATA/admin.token)")
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if json.Unmarshal(b, &e, json.RejectUnknownMembers(false)) == nil && e.Title != "" {
			if e.Description != "" {
				return fmt.Errorf("%s %s: %d %s: %s", method, path, res.StatusCode, e.Title, e.Description)
			}
			return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, e.Title)
		}
		return fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	if out != nil && res.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out, json.RejectUnknownMembers(false)); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		rest := fs.Args()
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// subcommand runs one subcommand with its own flag set, named for help
// output "fusion CMD SUB".
type subcommand struct {
	usage string
	run   func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error
}

func dispatch(ctx context.Context, parent *flag.FlagSet, name string, subs map[string]subcommand, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		parent.SetOutput(stdout)
		parent.Usage()
		if len(args) == 0 {
			return exitError{2}
		}
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		parent.Usage()
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("fusion "+name+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: fusion %s %s %s\n\nflags:\n", name, args[0], sub.usage)
		fs.PrintDefaults()
	}
	return sub.run(ctx, fs, args[1:], stdout)
}

func runOrg(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, fs, "org", map[string]subcommand{
		"add": {"NAME --kind partner|hub|member [--country CC]", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			kind := fs.String("kind", "", "organisation kind: partner (a security company), hub (the cybercrime centre) or member (a member country's police unit)")
			country := fs.String("country", "", "ISO 3166-1 alpha-2 country `code` of a member, e.g. FR")
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return err
			}
			if len(pos) != 1 || *kind == "" {
				fs.Usage()
				return exitError{2}
			}
			var o server.OrgJSON
			in := map[string]string{"name": pos[0], "kind": *kind, "country": *country}
			if err := c.do(ctx, "POST", "/api/v1/orgs", in, &o); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created organisation %s (%s%s), id %s\n", o.Name, o.Kind, countrySuffix(o.Country), o.ID)
			return nil
		}},
		"list": {"", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			if _, err := parseInterspersed(fs, args); err != nil {
				return err
			}
			var orgs []server.OrgJSON
			if err := c.do(ctx, "GET", "/api/v1/orgs", nil, &orgs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tCOUNTRY\tID\tCREATED")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Name, o.Kind, o.Country, o.ID, o.Created.Format(time.DateOnly))
			}
			return tw.Flush()
		}},
	}, args, stdout, stderr)
}

func countrySuffix(cc string) string {
	if cc == "" {
		return ""
	}
	return ", " + cc
}

func runToken(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, fs, "token", map[string]subcommand{
		"add": {"--org NAME --role read|write|admin [--expires 90d] [--label TEXT]", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			org := fs.String("org", "", "organisation `name` the token belongs to")
			role := fs.String("role", "", "read (TAXII GET), write (also POST and DELETE) or admin (also the admin API)")
			expires := fs.String("expires", "", "lifetime: days (90d) or a duration (12h); empty: never expires")
			label := fs.String("label", "", "a note on what the token is for")
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return err
			}
			if len(pos) != 0 || *org == "" || *role == "" {
				fs.Usage()
				return exitError{2}
			}
			if *expires != "" {
				if _, err := server.ParseExpiry(*expires); err != nil {
					return fmt.Errorf("--expires: %w", err)
				}
			}
			in := map[string]string{"org": *org, "role": *role, "expires_in": *expires, "label": *label}
			var t server.TokenJSON
			if err := c.do(ctx, "POST", "/api/v1/tokens", in, &t); err != nil {
				return err
			}
			exp := "never expires"
			if t.Expires != nil {
				exp = "expires " + t.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(stderr, "token %s for %s, role %s, %s. It is shown only now:\n", t.ID, t.Org, t.Role, exp)
			fmt.Fprintln(stdout, t.Token)
			return nil
		}},
		"list": {"[--org NAME]", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			org := fs.String("org", "", "only this organisation's tokens")
			if _, err := parseInterspersed(fs, args); err != nil {
				return err
			}
			path := "/api/v1/tokens"
			if *org != "" {
				path += "?org=" + url.QueryEscape(*org)
			}
			var toks []server.TokenJSON
			if err := c.do(ctx, "GET", path, nil, &toks); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tORG\tROLE\tCREATED\tEXPIRES\tREVOKED\tLABEL")
			for _, t := range toks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Org, t.Role, t.Created.Format(time.DateOnly),
					optTime(t.Expires), optTime(t.Revoked), t.Label)
			}
			return tw.Flush()
		}},
		"revoke": {"ID", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return err
			}
			if len(pos) != 1 {
				fs.Usage()
				return exitError{2}
			}
			if err := c.do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(pos[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked token %s\n", pos[0])
			return nil
		}},
	}, args, stdout, stderr)
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.DateOnly)
}

func runCollection(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, fs, "collection", map[string]subcommand{
		"add": {"TITLE [--alias A] [--root R] [--description D]", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			alias := fs.String("alias", "", "short name usable instead of the id in TAXII URLs, unique within the API root")
			root := fs.String("root", "api1", "API `root` (the first path segment of TAXII URLs)")
			desc := fs.String("description", "", "what the collection holds")
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return err
			}
			if len(pos) != 1 {
				fs.Usage()
				return exitError{2}
			}
			in := map[string]string{"title": pos[0], "alias": *alias, "api_root": *root, "description": *desc}
			var col server.CollectionJSON
			if err := c.do(ctx, "POST", "/api/v1/collections", in, &col); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created collection %q, id %s\n  TAXII: %s/%s/collections/%s/\n", col.Title, col.ID,
				strings.TrimRight(c.server, "/"), col.APIRoot, col.ID)
			return nil
		}},
		"list": {"", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			if _, err := parseInterspersed(fs, args); err != nil {
				return err
			}
			var cols []server.CollectionJSON
			if err := c.do(ctx, "GET", "/api/v1/collections", nil, &cols); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROOT\tALIAS\tTITLE")
			for _, col := range cols {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", col.ID, col.APIRoot, col.Alias, col.Title)
			}
			return tw.Flush()
		}},
		"grant": {"COLLECTION --org NAME [--read] [--write]", func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
			c := clientFlags(fs)
			org := fs.String("org", "", "organisation `name`")
			read := fs.Bool("read", false, "may read objects (TAXII GET)")
			write := fs.Bool("write", false, "may add and delete objects (TAXII POST, DELETE)")
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return err
			}
			if len(pos) != 1 || *org == "" {
				fs.Usage()
				return exitError{2}
			}
			var g server.GrantJSON
			path := "/api/v1/collections/" + url.PathEscape(pos[0]) + "/grants/" + url.PathEscape(*org)
			if err := c.do(ctx, "PUT", path, map[string]bool{"read": *read, "write": *write}, &g); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s on collection %s: read %v, write %v\n", g.Org, g.Collection, g.Read, g.Write)
			return nil
		}},
	}, args, stdout, stderr)
}
