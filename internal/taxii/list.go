package taxii

import (
	"context"
	"fmt"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/store"
)

// maxScan bounds how many store pages one request reads while looking for
// versions the caller may see, so that a caller who may see little of a
// huge collection costs a bounded amount per request. When it is hit the
// page is returned short with more=true and a next cursor past what was
// scanned.
const maxScan = 50

// listPage is one page of versions the caller may see, each with Raw the
// caller's copy (policy.Redact) or nil when listed metadata-only.
type listPage struct {
	versions []store.Version
	more     bool
	// resume is where the next page starts: the date_added of the last
	// version examined (returned or hidden by policy).
	resume store.Version
	// hidden are the versions the policy withheld from the caller among
	// those examined up to resume (ID, Modified and Source only): what
	// the response's denied entries name. A version a look-ahead read
	// past resume is not in it (the next page examines it again).
	hidden []store.Version
}

// pageKey is what listVisible remembers of a store page's versions to
// tell the hidden ones from the visible ones after policy.Filter.Visible
// (which compacts the page in place).
type pageKey struct {
	id     string
	mod    time.Time
	source string
}

// listVisible reads versions of col matching q in date_added order and
// keeps those the policy lets the caller see (policy.Filter: CanRead
// decides, Redact makes the copy sent), until limit are kept or the store
// has no more. Hidden versions count as examined, not returned, so pages
// stay full: more is true only when at least one more visible version
// exists (or the scan bound was hit), and a client never follows next
// into an empty page because of policy filtering. With q.MetaOnly the
// versions are still read with Raw unless the caller is a hub admin (the
// decision needs the objects' facts); Raw is dropped again before
// returning. The hidden versions examined are in the page's hidden.
func (h *Handler) listVisible(ctx context.Context, c policy.Caller, col store.Collection, q store.Query, limit int) (listPage, error) {
	var p listPage
	flt := policy.NewFilter(h.st, c, col)
	metaOnly := q.MetaOnly
	filtered := flt.NeedsRaw() // false: a hub admin, from whom nothing is hidden
	q.MetaOnly = metaOnly && !filtered
	var keys []pageKey
	keep := 0 // len(p.hidden) when the last version was kept
	scanned, kept := 0, 0
	for scans := 0; ; scans++ {
		q.Limit = h.scanSize(limit, limit-len(p.versions), scanned, kept)
		page, err := h.st.List(ctx, col.ID, q)
		if err != nil {
			return p, err
		}
		if len(page.Versions) == 0 {
			return p, nil
		}
		last := page.Versions[len(page.Versions)-1]
		last.Raw = nil
		if filtered {
			keys = keys[:0]
			for i := range page.Versions {
				v := &page.Versions[i]
				keys = append(keys, pageKey{v.ID, v.Modified, v.Source})
			}
		}
		n := len(page.Versions)
		vis, err := flt.Visible(ctx, page.Versions)
		if err != nil {
			return p, err
		}
		scanned, kept = scanned+n, kept+len(vis)
		// Walk the store page in order: vis is the subsequence of it the
		// caller may see (a version is unique by id and modified).
		k := 0
		for i := range n {
			if filtered {
				key := &keys[i]
				if k >= len(vis) || vis[k].ID != key.id || !vis[k].Modified.Equal(key.mod) {
					p.hidden = append(p.hidden, store.Version{ID: key.id, Modified: key.mod, Source: key.source})
					continue
				}
			}
			v := vis[k]
			k++
			if metaOnly {
				v.Raw = nil
			}
			if len(p.versions) == limit {
				// A visible version beyond the page: there is more. What
				// was hidden after the page's last version is examined
				// again by the next page.
				p.more = true
				p.resume = p.versions[limit-1]
				p.hidden = p.hidden[:keep]
				return p, nil
			}
			p.versions = append(p.versions, v)
			keep = len(p.hidden)
		}
		p.resume = last
		q.AddedAfter = last.DateAdded
		if !page.More {
			return p, nil
		}
		if scans+1 >= maxScan {
			p.more = true
			return p, nil
		}
	}
}

// scanSize is how many versions listVisible asks the store for when
// missing more visible ones are needed for a page of limit, after
// scanned versions were read and kept of them were visible. It asks for
// one more than needed (its presence answers "more?"); once the share of
// visible versions is known it asks for enough to find missing at that
// share (missing*scanned/kept), so that a caller who sees half of a
// collection gets a full page in about two store queries instead of ten,
// capped at 4*limit+1. While nothing visible has been found it asks for
// missing+1 (no share to scale by; maxScan bounds such requests). Asking for more than
// the page needs costs only reading: listVisible stops at the first
// visible version past the page, and the next page reads the rest again.
func (h *Handler) scanSize(limit, missing, scanned, kept int) int {
	want := missing + 1
	if want > h.cfg.MaxPageSize+1 {
		want = h.cfg.MaxPageSize + 1
	}
	if kept == 0 || kept >= scanned {
		return want
	}
	scaled := min((missing*scanned+kept-1)/kept+1, 4*limit+1)
	return max(want, scaled)
}

// next is the page's next cursor, empty when there is no more.
func (p listPage) next() string {
	if !p.more {
		return ""
	}
	return encodeCursor(p.resume.DateAdded)
}

// served records in the audit log (when there is one) what one response
// sends the caller by path and what the policy withheld from it: one
// audit.Response per response (a served entry per source of vs, a denied
// entry per source of hidden), appended together. It returns once they
// are stored; an error means the response must not be sent, so that
// nothing is served unlogged. A response that sends and hides nothing is
// no entry.
func (h *Handler) served(ctx context.Context, c policy.Caller, col store.Collection, path string, vs, hidden []store.Version) error {
	if h.cfg.Audit == nil || len(vs)+len(hidden) == 0 {
		return nil
	}
	es := audit.Response(audit.Access{Time: h.cfg.Now(), Actor: c.Org.ID, Path: path, Collection: col.ID}, vs, hidden)
	if err := h.cfg.Audit.Append(ctx, es); err != nil {
		return fmt.Errorf("audit log: record %d versions served to %s (%d withheld): %w", len(vs), c.Org.Name, len(hidden), err)
	}
	return nil
}

// denied records a refusal that sends nothing (the collection refused,
// an object answered as not found though it exists): a denied entry with
// reason, naming the withheld versions if any. A refusal stays a refusal
// when its entry cannot be stored (nothing leaves the store, and turning
// the answer into an error would tell the caller that something exists):
// the failure goes to the server log.
func (h *Handler) denied(ctx context.Context, c policy.Caller, collection, path, reason string, withheld []store.Version) {
	if h.cfg.Audit == nil {
		return
	}
	es := audit.Denied(audit.Access{Time: h.cfg.Now(), Actor: c.Org.ID, Path: path, Collection: collection, Reason: reason}, withheld)
	if err := h.cfg.Audit.Append(ctx, es); err != nil {
		h.log.Error("audit log: record a refusal", "org", c.Org.Name, "collection", collection, "path", path, "err", err)
	}
}
