package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fusion/internal/store"
)

// The spool is a file of the node's own, in front of the log's store, for
// the entries Log.Append is given (served, denied: one or two per
// response). Storing them in the store costs a transaction per response;
// writing them to the spool costs one write(2). Append returns once the
// entries are in the spool file: they then survive the process dying at
// any moment, as a commit does (the SQLite store's commits do not wait for
// the disk either, synchronous=NORMAL). A mover takes what was spooled
// into the store every spoolMoveEvery, many responses in one transaction
// (store.Log.AppendSpooled, which records how far the spool was moved in
// the same transaction, so nothing is stored twice), and the entries get
// their indexes then. On the next start, whatever a crash left in the
// file and not yet in the store is moved before anything else.
//
// The file: a header line "fusion-audit-spool 1 <32 hex digits>\n" (the
// digits name the spool in the store), then records, each
//
//	seq (8 bytes, big-endian) | length (4) | CRC-32C of seq, length and entry (4) | entry
//
// with seq counting 1, 2, 3… across the file's life. A write that a crash
// cut short leaves an incomplete record at the end, which the next start
// ignores. Once everything in the file is stored and the file is larger
// than spoolTruncateAt, it is emptied back to its header.
//
// The file is locked (flock) while a process uses it: two processes on
// one data directory cannot share a spool.

const (
	spoolMagic      = "fusion-audit-spool 1 "
	spoolHeaderLen  = len(spoolMagic) + 32 + 1
	spoolRecordHead = 16
	// spoolMaxEntry bounds an entry's length in a record (entries are at
	// most a few hundred KB; a larger length is corruption).
	spoolMaxEntry = 64 << 20
	// spoolMoveEvery is how long entries wait in the spool at most
	// before the mover stores them, unless the store fails. Every 50 ms
	// cost a PostgreSQL server on the paging hub's machine about 10 % of
	// that machine's CPU at full load (a transaction, a WAL flush and a
	// tree extension each time); every 250 ms, within the noise.
	spoolMoveEvery = 250 * time.Millisecond
	// spoolMoveBytes bounds one move's transaction.
	spoolMoveBytes = 16 << 20
	// spoolMaxPending bounds what may wait in the spool (and in memory)
	// while the store refuses the moves: beyond it Append fails, so that
	// responses are refused rather than served unlogged.
	spoolMaxPending = 256 << 20
	// spoolTruncateAt is the file size from which an emptied spool is
	// cut back to its header.
	spoolTruncateAt = 64 << 20
)

var spoolCRC = crc32.MakeTable(crc32.Castagnoli)

// spooledCall is one Append call's entries, numbered last-len+1..last.
type spooledCall struct {
	entries [][]byte
	last    int64
	bytes   int
}

type spool struct {
	path, name string
	st         store.Log
	log        *slog.Logger
	moved      func(first int64, entries [][]byte) // after each move (the log's leaf hashes)

	mu      sync.Mutex // held while writing the file
	f       *os.File
	seq     int64 // the last seq written
	size    int64 // the file's size
	pending []spooledCall
	bytes   int   // of pending entries
	broken  error // a write failed: the file's end is unknown, nothing more is written

	maxPending int // spoolMaxPending (tests lower it)

	failing atomic.Bool // the last move failed

	moveMu sync.Mutex    // one move at a time
	stop   chan struct{} // CloseSpool stops run
	done   chan struct{} // run has returned
}

// OpenSpool puts the spool file at path in front of the log's store (see
// the file's comment above): Append then returns once its entries are in
// the file, and a mover stores them every 250 ms. It first stores what an
// earlier process left in the file. Call it before the log is used, and
// CloseSpool before the store is closed.
func (l *Log) OpenSpool(ctx context.Context, path string) error {
	if l.spool != nil {
		return errors.New("audit: spool already open")
	}
	s, err := openSpool(ctx, l.st, path, l.log, l.rememberMoved)
	if err != nil {
		return err
	}
	l.spool = s
	go s.run()
	return nil
}

// CloseSpool stops the mover, stores what is left in the spool and
// closes the file; Append stores directly after it. Call it when no
// Append is running. With entries it could not store, it returns the error
// and they stay in the file for the next start.
func (l *Log) CloseSpool(ctx context.Context) error {
	s := l.spool
	if s == nil {
		return nil
	}
	l.spool = nil // Append stores directly from now on
	close(s.stop)
	<-s.done
	err := s.move(ctx, true)
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit spool %s: %w", s.path, cerr)
	}
	return err
}

// SpoolStats is what waits in a log's spool (SpoolStats).
type SpoolStats struct {
	Open    bool // the log has a spool
	Entries int  // entries written to the spool and not yet stored
	Bytes   int  // their size, with the records' framing
	Failing bool // the last attempt to store them failed
}

// SpoolStats reports the spool's backlog, for metrics. Safe to call while
// the log is in use (not during OpenSpool or CloseSpool).
func (l *Log) SpoolStats() SpoolStats {
	s := l.spool
	if s == nil {
		return SpoolStats{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.pending {
		n += len(c.entries)
	}
	return SpoolStats{Open: true, Entries: n, Bytes: s.bytes, Failing: s.failing.Load()}
}

// Sync stores what is in the spool now (nothing to do without one).
func (l *Log) Sync(ctx context.Context) error {
	if l.spool == nil {
		return nil
	}
	return l.spool.move(ctx, false)
}

// rememberMoved keeps the leaf hashes of moved entries for Integrate and
// asks for an integration.
func (l *Log) rememberMoved(first int64, entries [][]byte) {
	if l.key != nil {
		l.rememberLeaves(first, leafHashesOf(entries))
	}
	l.Kick()
}

func openSpool(ctx context.Context, st store.Log, path string, log *slog.Logger, moved func(int64, [][]byte)) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit spool %s is in use by another process (is another fusion serve running on this data directory?)", path)
		}
		return nil, fmt.Errorf("audit spool %s: lock: %w", path, err)
	}
	s := &spool{path: path, f: f, st: st, log: log, moved: moved, maxPending: spoolMaxPending,
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.recover(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// recover reads the header (writing one into a new file), stores the
// records the store does not have yet, and empties the file.
func (s *spool) recover(ctx context.Context) error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	r := bufio.NewReaderSize(s.f, 1<<20)
	name, err := readSpoolHeader(r, s.path)
	if err != nil {
		return err
	}
	if name == "" { // new, or a header cut short: nothing was spooled in it
		var id [16]byte
		rand.Read(id[:])
		s.name = hex.EncodeToString(id[:])
		return s.reset()
	}
	s.name = name
	mark, err := s.st.SpoolMark(ctx, s.name)
	if err != nil {
		return fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	s.seq = mark
	stored := 0
	err = scanSpool(r, s.path, s.log, func(off, seq int64, entry []byte) error {
		if seq <= mark {
			return nil // stored before the crash
		}
		if seq != s.seq+1 {
			return fmt.Errorf("audit spool %s: record at offset %d is number %d, want %d; the file is damaged (nothing was stored from it)", s.path, off, seq, s.seq+1)
		}
		s.seq = seq
		s.pending = append(s.pending, spooledCall{entries: [][]byte{entry}, last: seq, bytes: len(entry)})
		s.bytes += len(entry)
		stored++
		if s.bytes >= spoolMoveBytes {
			return s.move(ctx, false)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.move(ctx, false); err != nil {
		return err
	}
	if stored > 0 {
		s.log.Info("audit spool: stored the entries an earlier process left", "file", s.path, "entries", stored)
	}
	return s.reset()
}

// readSpoolHeader reads a spool file's header and returns the spool's
// name: "" for an empty file or one whose header was cut short when it was
// made, an error for a file that is not a spool.
func readSpoolHeader(r io.Reader, path string) (string, error) {
	head := make([]byte, spoolHeaderLen)
	n, err := io.ReadFull(r, head)
	switch {
	case n == 0 && err == io.EOF:
		return "", nil
	case err == io.ErrUnexpectedEOF && strings.HasPrefix(spoolMagic, string(head[:min(n, len(spoolMagic))])):
		return "", nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return "", fmt.Errorf("audit spool %s: %w", path, err)
	}
	name, ok := parseSpoolHeader(head[:n])
	if !ok {
		return "", fmt.Errorf("audit spool %s: not a spool file (it starts %q); move it away to start with a new one", path, head[:n])
	}
	return name, nil
}

// scanSpool calls fn with each whole record after the header (its offset,
// number and entry) until the end of the file, or until a record that a
// write cut short or that is damaged (logged as a warning: what follows
// it cannot be framed), or until fn fails.
func scanSpool(r io.Reader, path string, log *slog.Logger, fn func(off, seq int64, entry []byte) error) error {
	off := int64(spoolHeaderLen)
	var rec [spoolRecordHead]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if err != io.EOF {
				log.Warn("audit spool: ignoring an incomplete record at the end (a write cut short)", "file", path, "offset", off)
			}
			return nil
		}
		seq := int64(binary.BigEndian.Uint64(rec[0:8]))
		size := binary.BigEndian.Uint32(rec[8:12])
		if size > spoolMaxEntry {
			log.Warn("audit spool: ignoring the rest of the file from a record of impossible length", "file", path, "offset", off, "length", size)
			return nil
		}
		entry := make([]byte, size)
		if _, err := io.ReadFull(r, entry); err != nil {
			log.Warn("audit spool: ignoring an incomplete record at the end (a write cut short)", "file", path, "offset", off)
			return nil
		}
		if recordCRC(rec[:12], entry) != binary.BigEndian.Uint32(rec[12:16]) {
			log.Warn("audit spool: ignoring the rest of the file from a record whose checksum fails", "file", path, "offset", off, "seq", seq)
			return nil
		}
		if err := fn(off, seq, entry); err != nil {
			return err
		}
		off += spoolRecordHead + int64(size)
	}
}

// SpoolBacklog returns how many entries the spool file at path holds that
// st does not have yet (0 when there is no such file): what a process that
// died left for the next OpenSpool to store. It only reads the file, so a
// running server's spool may hold more a moment later.
func SpoolBacklog(ctx context.Context, st store.Log, path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	name, err := readSpoolHeader(r, path)
	if err != nil || name == "" {
		return 0, err
	}
	mark, err := st.SpoolMark(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("audit spool %s: %w", path, err)
	}
	n := 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	err = scanSpool(r, path, quiet, func(_, seq int64, _ []byte) error {
		if seq > mark {
			n++
		}
		return nil
	})
	return n, err
}

func parseSpoolHeader(h []byte) (string, bool) {
	if len(h) != spoolHeaderLen || string(h[:len(spoolMagic)]) != spoolMagic || h[len(h)-1] != '\n' {
		return "", false
	}
	name := string(h[len(spoolMagic) : len(h)-1])
	if _, err := hex.DecodeString(name); err != nil {
		return "", false
	}
	return name, true
}

// reset empties the file back to its header. Call it with mu held (or
// before the spool is shared) and nothing pending.
func (s *spool) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	if _, err := s.f.Write([]byte(spoolMagic + s.name + "\n")); err != nil {
		return fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	s.size = int64(spoolHeaderLen)
	return nil
}

func recordCRC(head, entry []byte) uint32 {
	return crc32.Update(crc32.Checksum(head, spoolCRC), spoolCRC, entry)
}

// write appends one call's entries to the file in one write.
func (s *spool) write(entries [][]byte) error {
	n := 0
	for _, e := range entries {
		n += spoolRecordHead + len(e)
	}
	buf := make([]byte, 0, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	if s.bytes+n > s.maxPending {
		return fmt.Errorf("audit spool %s: %d bytes wait to be stored (the store refuses them?); refusing more", s.path, s.bytes)
	}
	seq := s.seq
	for _, e := range entries {
		seq++
		var h [spoolRecordHead]byte
		binary.BigEndian.PutUint64(h[0:8], uint64(seq))
		binary.BigEndian.PutUint32(h[8:12], uint32(len(e)))
		binary.BigEndian.PutUint32(h[12:16], recordCRC(h[:12], e))
		buf = append(buf, h[:]...)
		buf = append(buf, e...)
	}
	if _, err := s.f.Write(buf); err != nil {
		// Part of buf may be in the file: what follows would be numbered
		// wrongly. The next start ignores an incomplete tail.
		s.broken = fmt.Errorf("audit spool %s: write failed earlier: %w", s.path, err)
		return fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	s.seq = seq
	s.size += int64(len(buf))
	s.pending = append(s.pending, spooledCall{entries: entries, last: seq, bytes: n})
	s.bytes += n
	return nil
}

// run moves the spool every spoolMoveEvery while there is something to
// move, until stop.
func (s *spool) run() {
	defer close(s.done)
	t := time.NewTicker(spoolMoveEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.move(ctx, false)
		cancel()
		switch {
		case err != nil && !failing:
			s.log.Error("audit spool: storing spooled entries failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("audit spool: storing spooled entries works again")
			failing = false
		}
	}
}

// move stores the pending calls, at most spoolMoveBytes per transaction,
// whole calls only (a call's entries stay contiguous in the log). Then,
// when nothing is pending and the file is large (or empty is set), it
// cuts the file back to its header.
func (s *spool) move(ctx context.Context, empty bool) error {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	for {
		s.mu.Lock()
		k, size, n := 0, 0, 0
		for k < len(s.pending) && (k == 0 || size+s.pending[k].bytes <= spoolMoveBytes) {
			size += s.pending[k].bytes
			n += len(s.pending[k].entries)
			k++
		}
		if k == 0 {
			var err error
			if s.broken == nil && (empty || s.size >= spoolTruncateAt) {
				err = s.reset()
			}
			s.mu.Unlock()
			return err
		}
		calls := s.pending[:k]
		s.mu.Unlock()

		entries := make([][]byte, 0, n)
		for _, c := range calls {
			entries = append(entries, c.entries...)
		}
		last := calls[k-1].last
		first, err := s.st.AppendSpooled(ctx, s.name, last, entries)
		s.failing.Store(err != nil && !errors.Is(err, store.ErrConflict))
		if errors.Is(err, store.ErrConflict) {
			// Stored already? Only if the store's mark says so.
			mark, merr := s.st.SpoolMark(ctx, s.name)
			if merr != nil || mark < last {
				return fmt.Errorf("audit spool %s: %w", s.path, err)
			}
			s.log.Warn("audit spool: entries were stored already", "file", s.path, "up_to", last)
			first = -1
		} else if err != nil {
			return fmt.Errorf("audit spool %s: %w", s.path, err)
		}
		s.mu.Lock()
		s.pending = append(s.pending[:0], s.pending[k:]...)
		s.bytes -= size
		s.mu.Unlock()
		if first >= 0 && s.moved != nil {
			s.moved(first, entries)
		}
	}
}
