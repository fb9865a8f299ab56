package taxii

import (
	"context"
	"fmt"

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
// returning.
func (h *Handler) listVisible(ctx context.Context, c policy.Caller, col store.Collection, q store.Query, limit int) (listPage, error) {
	var p listPage
	flt := policy.NewFilter(h.st, c, col)
	metaOnly := q.MetaOnly
	q.MetaOnly = metaOnly && !flt.NeedsRaw()
	// Ask for one more than needed: its presence answers "more?".
	for scans := 0; ; scans++ {
		want := limit - len(p.versions) + 1
		if want > h.cfg.MaxPageSize+1 {
			want = h.cfg.MaxPageSize + 1
		}
		q.Limit = want
		page, err := h.st.List(ctx, col.ID, q)
		if err != nil {
			return p, err
		}
		if len(page.Versions) == 0 {
			return p, nil
		}
		last := page.Versions[len(page.Versions)-1]
		last.Raw = nil
		vis, err := flt.Visible(ctx, page.Versions)
		if err != nil {
			return p, err
		}
		for i := range vis {
			if metaOnly {
				vis[i].Raw = nil
			}
			if len(p.versions) == limit {
				// A visible version beyond the page: there is more.
				p.more = true
				p.resume = p.versions[limit-1]
				return p, nil
			}
			p.versions = append(p.versions, vis[i])
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

// next is the page's next cursor, empty when there is no more.
func (p listPage) next() string {
	if !p.more {
		return ""
	}
	return encodeCursor(p.resume.DateAdded)
}

// served records in the audit log (when there is one) that the versions
// of one response are sent to the caller by path: one audit.Served call
// per response (its entries, one per source organisation, are appended
// together). It returns once they are stored; an error means the response
// must not be sent, so that nothing is served unlogged. An empty page is
// no entry.
func (h *Handler) served(ctx context.Context, c policy.Caller, col store.Collection, path string, vs []store.Version) error {
	if h.cfg.Audit == nil || len(vs) == 0 {
		return nil
	}
	es := audit.Served(audit.Access{Time: h.cfg.Now(), Actor: c.Org.ID, Path: path, Collection: col.ID}, vs)
	if _, err := h.cfg.Audit.Append(ctx, es); err != nil {
		return fmt.Errorf("audit log: record %d versions served to %s: %w", len(vs), c.Org.Name, err)
	}
	return nil
}
