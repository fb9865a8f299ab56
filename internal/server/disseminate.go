package server

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"fusion/internal/disseminate"
	"fusion/internal/geoip"
	"fusion/internal/stix"
	"fusion/internal/taxii"
)

// disseminateRoutes registers POST /api/v1/disseminate: one dissemination
// run (fusion disseminate), for hub admins. The body is empty or
// {"since": "<STIX timestamp>"}; the response is the run's result.
func (s *Server) disseminateRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/disseminate", s.wrap(s.disseminate))
}

// DisseminateRequest is the body of POST /api/v1/disseminate.
type DisseminateRequest struct {
	Since string `json:"since,omitempty"` // only objects added after it; empty: since the last run
}

// geoCache keeps the last geolocation database read from the store, by
// digest, so that each run does not re-read and re-verify it.
var geoCache struct {
	sync.Mutex
	db *geoip.DB
}

func (s *Server) disseminate(w http.ResponseWriter, r *http.Request) error {
	c, err := adminCaller(r, true)
	if err != nil {
		return err
	}
	var req DisseminateRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	var since time.Time
	if req.Since != "" {
		if since, err = stix.ParseTimestamp(req.Since); err != nil {
			return taxii.Errorf(http.StatusBadRequest, "since: %v", err)
		}
	}
	ctx := r.Context()
	meta, err := geoip.Stored(ctx, s.st)
	if errors.Is(err, geoip.ErrNotLoaded) {
		return taxii.Errorf(http.StatusConflict, "%v", err)
	}
	if err != nil {
		return err
	}
	geoCache.Lock()
	db := geoCache.db
	if db == nil || db.Meta().SHA256 != meta.SHA256 {
		if db, err = geoip.FromStore(ctx, s.st); err != nil {
			geoCache.Unlock()
			return err
		}
		geoCache.db = db
	}
	geoCache.Unlock()
	res, err := disseminate.Run(ctx, s.st, disseminate.Config{Geo: db, Since: since,
		Exclude: []string{SharingCollectionID}, Actor: c.Org.ID, Now: s.now})
	if errors.Is(err, disseminate.ErrBusy) {
		return taxii.Errorf(http.StatusConflict, "%v", err)
	}
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, res)
}
