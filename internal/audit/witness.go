package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witness watches a hub's audit log from outside, as a partner or member
// country runs it: it fetches the latest checkpoint, checks its
// signature, and checks that it extends every checkpoint the witness saw
// before (a consistency proof against the newest; consistency is
// transitive, and each was checked against its predecessor when first
// seen). Optionally it checks the inclusion proof of every entry its
// token may see. What it has seen is kept in a WitnessState.
type Witness struct {
	BaseURL  string // the hub, e.g. https://hub.example.org
	Token    string // API token (Bearer); any organisation's
	Verifier note.Verifier
	Client   *http.Client // default: 30 s timeout
	// Entries: also fetch every entry the token may see that is new since
	// the last check, with its inclusion proof, and check each.
	Entries bool
	// Full: check entries from index 0, not from where the last check
	// stopped.
	Full bool
}

// WitnessState is what a witness remembers between runs (a JSON file).
type WitnessState struct {
	Origin string `json:"origin"`
	// Checkpoints seen, ascending in size; each one's note as served. At
	// most maxKept: older ones are thinned (the newest always stays).
	Checkpoints []SeenCheckpoint `json:"checkpoints"`
	// EntriesChecked: entries below this index were checked already.
	EntriesChecked int64 `json:"entries_checked"`
}

// SeenCheckpoint is a checkpoint a witness saw and when.
type SeenCheckpoint struct {
	Note string    `json:"note"`
	Seen time.Time `json:"seen"`
}

const maxKept = 256

// Alarm is evidence that the hub presented a history that does not extend
// one it showed before, or an entry its tree does not contain.
type Alarm struct {
	OldSize, NewSize int64 // the checkpoints in conflict (0 when not about two)
	Index, End       int64 // entries concerned, when known: [Index, End); End 0 when unknown
	What             string
}

func (a *Alarm) Error() string { return "ALARM: " + a.What }

// WitnessReport says what one Check saw.
type WitnessReport struct {
	Previous   int64 // size of the newest checkpoint seen before (-1: first run)
	Size       int64 // size of the hub's latest checkpoint
	Root       tlog.Hash
	EntriesOK  int64 // entries whose inclusion proofs were checked
	FirstCheck bool
}

// LoadWitnessState reads a state file; a missing file is an empty state.
// Every stored checkpoint is verified again with v: a state file edited
// by someone else is not trusted.
func LoadWitnessState(path string, v note.Verifier) (*WitnessState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &WitnessState{Origin: v.Name()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness state: %w", err)
	}
	var st WitnessState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("witness state %s: %w", path, err)
	}
	if st.Origin != v.Name() {
		return nil, fmt.Errorf("witness state %s is for %q, the key for %q", path, st.Origin, v.Name())
	}
	prev := int64(-1)
	for i, sc := range st.Checkpoints {
		cp, err := OpenCheckpoint([]byte(sc.Note), v)
		if err != nil {
			return nil, fmt.Errorf("witness state %s: checkpoint %d: %w", path, i, err)
		}
		if cp.Size <= prev {
			return nil, fmt.Errorf("witness state %s: checkpoints not in ascending size", path)
		}
		prev = cp.Size
	}
	return &st, nil
}

// Save writes the state atomically (a temporary file renamed over path).
func (s *WitnessState) Save(path string) error {
	b, err := json.Marshal(s, json.Deterministic(true))
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".witness-*")
	if err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("witness state: %w", err)
	}
	return nil
}

// Check runs one round. It returns an *Alarm when the hub's history
// changed or an entry does not verify, another error when the hub could
// not be asked (or answered nonsense), and updates st only when all is
// well.
func (w *Witness) Check(ctx context.Context, st *WitnessState, now time.Time) (WitnessReport, error) {
	rep := WitnessReport{Previous: -1}
	body, err := w.get(ctx, "/api/v1/audit/checkpoint", MaxCheckpointSize)
	if err != nil {
		if len(st.Checkpoints) > 0 {
			err = refused(err, 0, 0, "the hub has no checkpoint, but showed one before")
		}
		return rep, err
	}
	cp, err := OpenCheckpoint(body, w.Verifier)
	if err != nil {
		return rep, &Alarm{What: fmt.Sprintf("the hub's latest checkpoint does not verify with key %s: %v", w.Verifier.Name(), err)}
	}
	rep.Size, rep.Root = cp.Size, cp.Root
	seen, err := st.opened(w.Verifier)
	if err != nil {
		return rep, err
	}
	if len(seen) == 0 {
		rep.FirstCheck = true
	} else {
		last := seen[len(seen)-1]
		rep.Previous = last.Size
		if err := w.checkExtends(ctx, seen, st, cp); err != nil {
			return rep, err
		}
	}
	if w.Entries {
		from := st.EntriesChecked
		if w.Full || from > cp.Size {
			from = 0
		}
		n, err := w.checkEntries(ctx, cp, from)
		rep.EntriesOK = n
		if err != nil {
			return rep, err
		}
		st.EntriesChecked = cp.Size
	}
	if len(seen) == 0 || cp.Size > seen[len(seen)-1].Size {
		st.Checkpoints = append(st.Checkpoints, SeenCheckpoint{Note: string(cp.Note), Seen: now.UTC()})
		st.thin()
	}
	return rep, nil
}

func (s *WitnessState) opened(v note.Verifier) ([]Checkpoint, error) {
	out := make([]Checkpoint, len(s.Checkpoints))
	for i, sc := range s.Checkpoints {
		cp, err := OpenCheckpoint([]byte(sc.Note), v)
		if err != nil {
			return nil, fmt.Errorf("witness state: checkpoint %d: %w", i, err)
		}
		out[i] = cp
	}
	return out, nil
}

// thin keeps at most maxKept checkpoints: the newest half as they are,
// every other one of the older half. The newest is always kept.
func (s *WitnessState) thin() {
	for len(s.Checkpoints) > maxKept {
		old := s.Checkpoints[:len(s.Checkpoints)/2]
		kept := old[:0:0]
		for i := range old {
			if i%2 == 0 {
				kept = append(kept, old[i])
			}
		}
		s.Checkpoints = append(kept, s.Checkpoints[len(s.Checkpoints)/2:]...)
	}
}

// checkExtends checks that cp extends the newest seen checkpoint; on
// failure it looks for the oldest seen checkpoint cp does not extend, to
// bound where history changed.
func (w *Witness) checkExtends(ctx context.Context, seen []Checkpoint, st *WitnessState, cp Checkpoint) error {
	last := seen[len(seen)-1]
	when := func(i int) string { return st.Checkpoints[i].Seen.Format(time.RFC3339) }
	switch {
	case cp.Size < last.Size:
		return &Alarm{OldSize: last.Size, NewSize: cp.Size, Index: cp.Size, End: last.Size,
			What: fmt.Sprintf("the hub now shows a tree of %d entries, but showed %d entries on %s: entries [%d, %d) were removed",
				cp.Size, last.Size, when(len(seen)-1), cp.Size, last.Size)}
	case cp.Size == last.Size:
		if cp.Root != last.Root {
			return w.localize(ctx, seen, st, cp, fmt.Sprintf("the hub now signs a different root for the tree of %d entries it showed on %s", cp.Size, when(len(seen)-1)))
		}
		return nil
	}
	ok, err := w.consistent(ctx, last, cp)
	if err != nil {
		return err
	}
	if !ok {
		return w.localize(ctx, seen, st, cp, fmt.Sprintf("the hub's tree of %d entries does not extend the tree of %d entries it showed on %s",
			cp.Size, last.Size, when(len(seen)-1)))
	}
	return nil
}

// localize finds the smallest seen checkpoint cp is inconsistent with and
// the largest one before it cp is consistent with: history changed in
// between.
func (w *Witness) localize(ctx context.Context, seen []Checkpoint, st *WitnessState, cp Checkpoint, what string) error {
	good := int64(0)
	for i, old := range seen {
		if old.Size > cp.Size {
			break
		}
		var ok bool
		if old.Size == cp.Size {
			ok = old.Root == cp.Root
		} else {
			var err error
			if ok, err = w.consistent(ctx, old, cp); err != nil {
				return err
			}
		}
		if !ok {
			return &Alarm{OldSize: old.Size, NewSize: cp.Size, Index: good, End: old.Size,
				What: fmt.Sprintf("%s; the first tree it does not extend has %d entries (seen %s), so entries in [%d, %d) were changed",
					what, old.Size, st.Checkpoints[i].Seen.Format(time.RFC3339), good, old.Size)}
		}
		good = old.Size
	}
	last := seen[len(seen)-1]
	return &Alarm{OldSize: last.Size, NewSize: cp.Size, Index: good, End: last.Size, What: what}
}

// consistent fetches and checks the consistency proof from old to cp.
// false: the proof does not verify (the hub's answer is evidence).
func (w *Witness) consistent(ctx context.Context, old, cp Checkpoint) (bool, error) {
	if old.Size == 0 {
		return true, nil
	}
	body, err := w.get(ctx, "/api/v1/audit/consistency?from="+strconv.FormatInt(old.Size, 10)+"&to="+strconv.FormatInt(cp.Size, 10), 1<<20)
	if err != nil {
		return false, refused(err, old.Size, cp.Size, fmt.Sprintf("the hub will not prove that its tree of %d entries extends the one of %d", cp.Size, old.Size))
	}
	var p ConsistencyJSON
	if err := json.Unmarshal(body, &p); err != nil {
		return false, fmt.Errorf("hub's consistency proof %d→%d: %w", old.Size, cp.Size, err)
	}
	if p.From != old.Size || p.To != cp.Size {
		return false, fmt.Errorf("hub answered a consistency proof %d→%d for %d→%d", p.From, p.To, old.Size, cp.Size)
	}
	return checkTree(p.Proof, cp.Size, cp.Root, old.Size, old.Root) == nil, nil
}

// checkEntries fetches the entries the token may see in [from, cp.Size)
// with their inclusion proofs in cp's tree and checks each.
func (w *Witness) checkEntries(ctx context.Context, cp Checkpoint, from int64) (int64, error) {
	var n int64
	for pos := from; pos < cp.Size; {
		q := url.Values{"start": {strconv.FormatInt(pos, 10)}, "size": {strconv.FormatInt(cp.Size, 10)}, "proofs": {"true"}}
		body, err := w.get(ctx, "/api/v1/audit/entries?"+q.Encode(), 256<<20)
		if err != nil {
			return n, refused(err, 0, cp.Size, fmt.Sprintf("the hub will not prove entries from %d in its signed tree of %d entries", pos, cp.Size))
		}
		var page EntriesJSON
		if err := json.Unmarshal(body, &page); err != nil {
			return n, fmt.Errorf("hub's entries from %d: %w", pos, err)
		}
		if page.TreeSize != cp.Size {
			return n, fmt.Errorf("hub answered entries of a tree of %d for %d", page.TreeSize, cp.Size)
		}
		firstUnreadable := int64(-1)
		if len(page.Unreadable) > 0 {
			firstUnreadable = page.Unreadable[0]
		}
		unreadable := func() error {
			return &Alarm{NewSize: cp.Size, Index: firstUnreadable, End: firstUnreadable + 1,
				What: fmt.Sprintf("the hub cannot produce entry %d, which its signed tree of %d entries covers", firstUnreadable, cp.Size)}
		}
		prev := pos - 1
		for _, e := range page.Entries {
			if firstUnreadable >= 0 && firstUnreadable < e.Index {
				return n, unreadable()
			}
			if e.Index <= prev || e.Index >= cp.Size {
				return n, fmt.Errorf("hub answered entry %d out of order or range (after %d, tree of %d)", e.Index, prev, cp.Size)
			}
			prev = e.Index
			if err := checkRecord(e.Proof, cp.Size, cp.Root, e.Index, tlog.RecordHash(e.Entry)); err != nil {
				return n, &Alarm{NewSize: cp.Size, Index: e.Index, End: e.Index + 1,
					What: fmt.Sprintf("entry %d as the hub serves it is not in the tree of %d entries it signed: %v", e.Index, cp.Size, err)}
			}
			n++
		}
		if firstUnreadable >= 0 {
			return n, unreadable()
		}
		if page.Next == 0 {
			break
		}
		if page.Next <= pos {
			return n, fmt.Errorf("hub's entries page from %d goes back to %d", pos, page.Next)
		}
		pos = page.Next
	}
	return n, nil
}

// statusError is a hub's answer other than 200.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// refused turns the hub's 404 to a request for a proof within a tree it
// signed into an Alarm: it signed a tree it cannot (or will not) prove.
// Other failures (network, 5xx) stay errors.
func refused(err error, oldSize, newSize int64, what string) error {
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return &Alarm{OldSize: oldSize, NewSize: newSize, What: what + ": " + se.msg}
	}
	return err
}

// get fetches base+path and returns the body (at most max bytes) of a 200.
func (w *Witness) get(ctx context.Context, path string, max int64) ([]byte, error) {
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.BaseURL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("GET %s: answer over %d bytes", path, max)
	}
	if resp.StatusCode != http.StatusOK {
		msg := string(bytes.TrimSpace(body))
		var e struct {
			Description string `json:"description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Description != "" {
			msg = e.Description
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return nil, &statusError{resp.StatusCode, fmt.Sprintf("GET %s: %s: %s", path, resp.Status, msg)}
	}
	return body, nil
}
