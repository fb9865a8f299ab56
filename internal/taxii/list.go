package taxii

import (
	"context"

	"fusion/internal/policy"
	"fusion/internal/store"
)

// maxScan bounds how many store pages one request reads while looking for
// versions the caller may see, so that a caller who may see little of a
// huge collection costs a bounded amount per request. When it is hit the
// page is returned short with more=true and a next cursor past what was
// scanned.
const maxScan = 50

// canRead is the policy decision; it is policy.CanRead, and a variable
// only so that this package's tests can hide versions and check that
// pages stay full and more stays honest.
var canRead = policy.CanRead

// listPage is one page of versions the caller may see.
type listPage struct {
	versions []store.Version
	more     bool
	// resume is where the next page starts: the date_added of the last
	// version examined (returned or hidden by policy).
	resume store.Version
}

// listVisible reads versions matching q in date_added order and keeps
// those policy.CanRead lets the caller see, until limit are kept or the
// store has no more. more is true only when at least one more visible
// version exists (or the scan bound was hit), so that a client never
// follows next into an empty page because of policy filtering.
func (h *Handler) listVisible(ctx context.Context, c policy.Caller, collection string, q store.Query, limit int) (listPage, error) {
	var p listPage
	// Ask for one more than needed: its presence answers "more?".
	for scans := 0; ; scans++ {
		want := limit - len(p.versions) + 1
		if want > h.cfg.MaxPageSize+1 {
			want = h.cfg.MaxPageSize + 1
		}
		q.Limit = want
		page, err := h.st.List(ctx, collection, q)
		if err != nil {
			return p, err
		}
		for i := range page.Versions {
			v := &page.Versions[i]
			if !canRead(c, v) {
				p.resume = *v
				q.AddedAfter = v.DateAdded
				continue
			}
			if len(p.versions) == limit {
				// A visible version beyond the page: there is more.
				p.more = true
				return p, nil
			}
			p.versions = append(p.versions, *v)
			p.resume = *v
			q.AddedAfter = v.DateAdded
		}
		if !page.More || len(page.Versions) == 0 {
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
