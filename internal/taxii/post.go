package taxii

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/audit"
	"fusion/internal/guard"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// statusDetail is a status-details entry (section 4.3.1).
type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// statusResource is the status resource (section 4.3.1).
type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"` // "complete" or "pending"
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings,omitempty"`
}

// statusRecord is what is kept in the store: the resource and who may
// read it back.
type statusRecord struct {
	Owner  string         `json:"owner"` // organisation id
	Status statusResource `json:"status"`
}

func statusKey(id string) string { return "taxii/status/" + id }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// addObjects is Add Objects (section 5.5). The envelope is read as a
// stream; each object is parsed and validated on its own, so a bad object
// fails only itself; good ones are stored in batches of cfg.BatchSize,
// each batch atomically. The response is 202 with a status resource that
// is complete (all objects have been processed when it is sent) and is
// kept in the store for GET status on any node.
//
// A fault in the envelope itself ends the request: malformed JSON is a
// 400, JSON that is not an envelope a 422, a body over max_content_length
// a 413. Batches stored before the fault stay stored (posting the same
// envelope again leaves them unchanged), and the error's details say how
// many.
func (h *Handler) addObjects(w http.ResponseWriter, r *http.Request) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	c, col, _, err := h.collectionFor(r, needWrite, audit.PathTAXIIPost)
	if err != nil {
		return err
	}
	if r.ContentLength > h.cfg.MaxContentLength {
		return Errorf(http.StatusRequestEntityTooLarge, "the request body is %d bytes, over max_content_length %d", r.ContentLength, h.cfg.MaxContentLength)
	}
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxContentLength)
	st := statusResource{ID: newUUID(), Status: "complete", RequestTimestamp: formatDateAdded(h.cfg.Now())}
	batch := make([]*stix.Object, 0, h.cfg.BatchSize)
	var gs guardStats
	def := policy.CollectionDefault(col.DefaultTLP)
	kindOf := policy.OrgKinds(r.Context(), h.st) // loaded only for a hub narrowing
	// With a guard, raw objects wait in pending until a batch is full: the
	// guard screens them together (references within the batch) before
	// anything else reads them, so that no validation message can echo a
	// protected value either.
	var pending []pendingObject
	flush := func() error {
		if len(pending) > 0 {
			err := h.screen(r.Context(), c, col.ID, st.ID, pending, &batch, &st, &gs)
			pending = pending[:0]
			if err != nil {
				return err
			}
		}
		if len(batch) == 0 {
			return nil
		}
		err := h.putBatch(r.Context(), c, col.ID, def, kindOf, batch, &st)
		batch = batch[:0]
		return err
	}
	werr := walkEnvelope(body, func(i int, raw []byte) error {
		st.TotalCount++
		if h.cfg.Guard != nil {
			pending = append(pending, pendingObject{i, raw})
			if len(pending) >= h.cfg.BatchSize {
				return flush()
			}
			return nil
		}
		obj, reason := h.check(i, raw)
		if reason != "" {
			st.fail(raw, reason)
			return nil
		}
		batch = append(batch, obj)
		if len(batch) >= h.cfg.BatchSize {
			return flush()
		}
		return nil
	})
	if werr == nil {
		werr = flush()
	}
	if werr != nil {
		var ee *EnvelopeError
		var mbe *http.MaxBytesError
		var te *Error
		switch {
		case errors.As(werr, &ee) && ee.Shape:
			te = Errorf(http.StatusUnprocessableEntity, "the body is JSON but not a TAXII envelope: %s", ee.Error())
		case errors.As(werr, &ee):
			te = Errorf(http.StatusBadRequest, "the body is not valid JSON: %s", ee.Error())
		case errors.As(werr, &mbe):
			te = Errorf(http.StatusRequestEntityTooLarge, "the request body is over max_content_length %d", h.cfg.MaxContentLength)
		default:
			return werr
		}
		if st.SuccessCount > 0 {
			te.Details = map[string]any{"stored_before_fault": st.SuccessCount, "status_id": st.ID}
			h.saveStatus(r.Context(), c, st)
		}
		return te
	}
	if err := h.saveStatus(r.Context(), c, st); err != nil {
		return err
	}
	h.log.Info("objects added", "collection", col.ID, "org", c.Org.Name, "status", st.ID,
		"total", st.TotalCount, "success", st.SuccessCount, "failure", st.FailureCount,
		"guard_blocked", gs.blocked, "guard_redacted", gs.redacted)
	return writeJSON(w, http.StatusAccepted, st)
}

// Guard screens what an organisation submits before it is stored: the
// customer-data guard of package guard, with each partner's own list,
// applied on the hub (see ARCHITECTURE.md, "How data flows").
type Guard interface {
	// Screen returns the guard's decision for each raw object, aligned
	// with raws, for objects org submits; ok is false when org has no
	// list (nothing is screened). An error means nothing of the batch
	// may be stored.
	Screen(ctx context.Context, org store.Org, raws [][]byte) (res []guard.Result, ok bool, err error)
	// Quarantine keeps blocked objects for org only (raws[i] was blocked
	// with res[i]); collection and status say where they were posted.
	Quarantine(ctx context.Context, org store.Org, collection, status string, raws [][]byte, res []*guard.Result) error
	// Redacted records the redactions of objects org posted to
	// collection that passed validation and go on to be stored.
	Redacted(ctx context.Context, org store.Org, collection string, res []*guard.Result) error
}

// pendingObject is a posted object waiting for the guard.
type pendingObject struct {
	index int
	raw   []byte
}

type guardStats struct{ blocked, redacted int }

// fail records a failed object in the status resource.
func (st *statusResource) fail(raw []byte, reason string) {
	st.FailureCount++
	st.Failures = append(st.Failures, statusDetail{ID: idOf(raw), Version: versionOf(raw), Message: reason})
}

// screen runs the guard over pending objects before anything else reads
// them: blocked ones fail in the status resource with the guard's reason
// (rule kinds and property paths, never a matched value) and go to the
// partner's quarantine; redacted ones continue as redacted; then each is
// parsed and validated like any posted object and appended to batch.
func (h *Handler) screen(ctx context.Context, c policy.Caller, collection, statusID string, pending []pendingObject, batch *[]*stix.Object, st *statusResource, gs *guardStats) error {
	raws := make([][]byte, len(pending))
	for i, p := range pending {
		raws[i] = p.raw
	}
	res, ok, err := h.cfg.Guard.Screen(ctx, c.Org, raws)
	if err != nil {
		return fmt.Errorf("customer-data guard: %w", err)
	}
	if ok && len(res) != len(raws) {
		return fmt.Errorf("customer-data guard: %d results for %d objects", len(res), len(raws))
	}
	var qraws [][]byte
	var qres, red []*guard.Result
	for i, p := range pending {
		raw := p.raw
		if ok {
			switch res[i].Action {
			case guard.Block:
				qraws, qres = append(qraws, raw), append(qres, &res[i])
				continue
			case guard.Redact:
				raw = res[i].Redacted
			}
		}
		obj, reason := h.check(p.index, raw)
		if reason != "" {
			st.fail(raw, reason)
			continue
		}
		if ok && res[i].Action == guard.Redact {
			gs.redacted++
			red = append(red, &res[i])
		}
		*batch = append(*batch, obj)
	}
	if len(red) > 0 {
		if err := h.cfg.Guard.Redacted(ctx, c.Org, collection, red); err != nil {
			return fmt.Errorf("customer-data guard: %w", err)
		}
	}
	if len(qraws) > 0 {
		if err := h.cfg.Guard.Quarantine(ctx, c.Org, collection, statusID, qraws, qres); err != nil {
			return fmt.Errorf("customer-data guard: %w", err)
		}
		for i, raw := range qraws {
			st.FailureCount++
			st.Failures = append(st.Failures, statusDetail{ID: safeID(qres[i].ID), Version: safeVersion(versionOf(raw)), Message: qres[i].Reason()})
			gs.blocked++
		}
	}
	return nil
}

// safeID and safeVersion echo a blocked object's id and version only when
// they have their proper form (type--UUID, a timestamp): in a blocked
// object, any other text may be what the guard protects.
func safeID(id string) string {
	typ, u, ok := strings.Cut(id, "--")
	if !ok || typ == "" || len(typ) > 250 || !stix.IsUUID(u) || strings.ContainsFunc(typ, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) {
		return ""
	}
	return id
}

func safeVersion(v string) string {
	if _, err := stix.ParseTimestamp(v); err != nil {
		return ""
	}
	return v
}

// check parses and validates one posted object; reason is empty when it
// may be stored.
func (h *Handler) check(i int, raw []byte) (*stix.Object, string) {
	// stix.Parse also rejects what the envelope walk let through:
	// duplicate member names and invalid UTF-8.
	obj, err := stix.Parse(raw)
	if err == nil && h.cfg.Validate != nil {
		err = h.cfg.Validate(obj)
	}
	if err != nil {
		var ve *stix.ValidationError
		if errors.As(err, &ve) {
			ve.Index = i
		}
		return nil, err.Error()
	}
	return obj, ""
}

// putBatch stores a batch of valid objects. Each object first goes
// through the write-side decision (policy.CheckWrites, one store query
// for the batch): a new version of an object another organisation shared
// fails in the status resource with the reason, the rest is stored. A
// hub narrowing keeps its object's source, so it is stored by its own
// Put; the batch is then atomic per source, not as a whole.
func (h *Handler) putBatch(ctx context.Context, c policy.Caller, collection string, def policy.Level, kindOf func(string) string, batch []*stix.Object, st *statusResource) error {
	decs, err := policy.CheckWrites(ctx, h.st, collection, def, c, batch, kindOf)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, "collection %s was deleted while objects were being added", collection)
	}
	if err != nil {
		return err
	}
	outs := make([]store.PutOutcome, len(batch))
	// Group by the source to record, in order of first appearance.
	var sources []string
	groups := map[string][]int{}
	for i, d := range decs {
		if d.Err != nil {
			continue
		}
		if _, ok := groups[d.Source]; !ok {
			sources = append(sources, d.Source)
		}
		groups[d.Source] = append(groups[d.Source], i)
	}
	for _, src := range sources {
		idx := groups[src]
		objs := make([]*stix.Object, len(idx))
		for j, i := range idx {
			objs[j] = batch[i]
		}
		o, err := h.st.Put(ctx, collection, src, objs)
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, "collection %s was deleted while objects were being added", collection)
		}
		if err != nil {
			return fmt.Errorf("storing %d objects: %w", len(objs), err)
		}
		for j, i := range idx {
			outs[i] = o[j]
		}
	}
	for i, o := range batch {
		if decs[i].Err != nil {
			st.fail(o.Raw, decs[i].Err.Error())
			continue
		}
		d := statusDetail{ID: o.ID}
		switch v := o.Version(); {
		case !v.IsZero():
			d.Version = stix.FormatTimestamp(v)
		case outs[i].Added:
			d.Version = formatDateAdded(outs[i].DateAdded)
		}
		if !outs[i].Added {
			d.Message = "unchanged: this version is already in the collection"
		}
		st.SuccessCount++
		st.Successes = append(st.Successes, d)
	}
	return nil
}

func (h *Handler) saveStatus(ctx context.Context, c policy.Caller, st statusResource) error {
	b, err := json.Marshal(statusRecord{Owner: c.Org.ID, Status: st})
	if err != nil {
		return err
	}
	return h.st.SetRecord(ctx, statusKey(st.ID), b)
}

// status is Get Status (section 4.3). A status can be read by the
// organisation that posted and by hub admins; to anyone else it does not
// exist.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) error {
	c, err := caller(r)
	if err != nil {
		return err
	}
	if err := h.checkRoot(r); err != nil {
		return err
	}
	id := r.PathValue("status")
	notFound := Errorf(http.StatusNotFound, "status %q not found", id)
	if !stix.IsUUID(id) {
		return notFound
	}
	b, err := h.st.GetRecord(r.Context(), statusKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	var rec statusRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("status record %s: %w", id, err)
	}
	if rec.Owner != c.Org.ID && !c.IsHubAdmin() {
		return notFound
	}
	return writeJSON(w, http.StatusOK, rec.Status)
}

// idOf and versionOf pull id and modified out of an object that failed,
// for its status entry; they are best-effort and never fail.
func idOf(raw []byte) string { return memberString(raw, "id") }
func versionOf(raw []byte) string {
	if v := memberString(raw, "modified"); v != "" {
		return v
	}
	return memberString(raw, "created")
}

func memberString(raw []byte, name string) string {
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return ""
	}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return ""
		}
		if tok.String() == name && dec.PeekKind() == '"' {
			v, err := dec.ReadToken()
			if err != nil {
				return ""
			}
			s := v.String()
			if len(s) > 300 {
				s = s[:300]
			}
			return s
		}
		if err := dec.SkipValue(); err != nil {
			return ""
		}
	}
	return ""
}
