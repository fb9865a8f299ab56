package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// OriginPrefix starts every hub's origin (checkpoint first line and key
// name): "fusion.hub/" followed by the hub's name.
const OriginPrefix = "fusion.hub/"

// MaxCheckpointSize bounds a checkpoint note read from outside.
const MaxCheckpointSize = 16 << 10

// MaxTreeSize is the largest tree size a checkpoint may state. tlog's
// proof checks do not terminate for sizes above 2^62, so larger ones are
// refused where they come in.
const MaxTreeSize = 1 << 62

// Checkpoint is a verified checkpoint: the tree of Size entries has hash
// Root, as signed in Note by the log named Origin.
//
// The signed text has exactly three lines, each ending in a newline:
//
//	fusion.hub/<name>      the origin, equal to the key's name
//	<size>                 decimal, no sign or leading zeros
//	<root>                 standard base64 (RFC 4648 section 4) of the 32-byte RFC 6962 root hash
//
// followed by the signature lines of a golang.org/x/mod/sumdb/note note.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte
}

// checkpointText is the signed text of a checkpoint.
func checkpointText(origin string, size int64, root tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// parseCheckpointText parses the signed text of a checkpoint.
func parseCheckpointText(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, root, fmt.Errorf("checkpoint: want 3 lines, have %d", strings.Count(text, "\n"))
	}
	origin = strings.TrimSuffix(lines[0], "\n")
	if !strings.HasPrefix(origin, OriginPrefix) || len(origin) == len(OriginPrefix) {
		return "", 0, root, fmt.Errorf("checkpoint line 1: origin %q does not start %q", origin, OriginPrefix)
	}
	s := strings.TrimSuffix(lines[1], "\n")
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return "", 0, root, fmt.Errorf("checkpoint line 2: size %q is not a decimal number", s)
	}
	size, err = strconv.ParseInt(s, 10, 64)
	if err != nil || size > MaxTreeSize {
		return "", 0, root, fmt.Errorf("checkpoint line 2: size %q out of range", s)
	}
	r := strings.TrimSuffix(lines[2], "\n")
	h, err := base64.StdEncoding.Strict().DecodeString(r)
	if err != nil || len(h) != tlog.HashSize {
		return "", 0, root, fmt.Errorf("checkpoint line 3: root %q is not a base64 SHA-256 hash", r)
	}
	copy(root[:], h)
	return origin, size, root, nil
}

// OpenCheckpoint checks the signature of a checkpoint note with v and
// parses it. The origin must be v's name: a checkpoint of another log
// signed with a key of the same name does not count.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: %d bytes, over the %d byte limit", len(msg), MaxCheckpointSize)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnknownVerifierError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unknown), errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("checkpoint: not signed by %s: %w", v.Name(), err)
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	origin, size, root, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not the key's name %q", origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: bytes.Clone(msg)}, nil
}

// checkRecord is tlog.CheckRecord for sizes from outside: it refuses
// sizes tlog cannot handle instead of looping.
func checkRecord(p tlog.RecordProof, size int64, root tlog.Hash, index int64, leaf tlog.Hash) error {
	if size < 1 || size > MaxTreeSize || index < 0 || index >= size {
		return fmt.Errorf("entry %d is not in a tree of %d entries", index, size)
	}
	return tlog.CheckRecord(p, size, root, index, leaf)
}

// checkTree is tlog.CheckTree with the same guard.
func checkTree(p tlog.TreeProof, newSize int64, newRoot tlog.Hash, oldSize int64, oldRoot tlog.Hash) error {
	if oldSize < 1 || oldSize > newSize || newSize > MaxTreeSize {
		return fmt.Errorf("no consistency proof from %d to %d entries", oldSize, newSize)
	}
	return tlog.CheckTree(p, newSize, newRoot, oldSize, oldRoot)
}

// signCheckpoint signs the checkpoint of a tree.
func signCheckpoint(k *Key, size int64, root tlog.Hash) ([]byte, error) {
	return note.Sign(&note.Note{Text: checkpointText(k.Name, size, root)}, k.signer)
}

// Key is the hub's checkpoint signing key: an Ed25519 key in the
// golang.org/x/mod/sumdb/note format, named with the hub's origin.
type Key struct {
	Name     string        // the origin, "fusion.hub/<name>"
	Verifier note.Verifier // checks the hub's checkpoints
	// VerifierKey is the public verifier key in note format
	// (name+hash+base64), what partners give `fusion audit watch --key`.
	VerifierKey string
	signer      note.Signer
}

// ValidOrigin reports whether s can name a hub: OriginPrefix followed by
// a non-empty name of printable ASCII without spaces or '+' (note key
// names may contain neither).
func ValidOrigin(s string) bool {
	if !strings.HasPrefix(s, OriginPrefix) || len(s) == len(OriginPrefix) || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '+' {
			return false
		}
	}
	return true
}

// GenerateKey returns a new private signing key (note format,
// "PRIVATE+KEY+<origin>+…") for the hub named origin.
func GenerateKey(origin string) (string, error) {
	if !ValidOrigin(origin) {
		return "", fmt.Errorf("audit key: name %q: want %s followed by printable ASCII without spaces or '+'", origin, OriginPrefix)
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	return skey, err
}

// ParseKey reads a private signing key in note format and derives its
// verifier.
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("audit key: not a note signing key (PRIVATE+KEY+name+hash+key)")
	}
	if !ValidOrigin(s.Name()) {
		return nil, fmt.Errorf("audit key: name %q does not start %q", s.Name(), OriginPrefix)
	}
	// PRIVATE+KEY+name+hash+base64(0x01 || seed): NewSigner checked the form.
	// The key is the fifth '+'-separated field; base64 may hold '+' too.
	parts := strings.SplitN(skey, "+", 5)
	b64 := parts[len(parts)-1]
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("audit key: not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return &Key{Name: s.Name(), Verifier: v, VerifierKey: vkey, signer: s}, nil
}

// NewVerifier parses a verifier key (note format, name+hash+base64) of a
// hub.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	if !ValidOrigin(v.Name()) {
		return nil, fmt.Errorf("verifier key: name %q does not start %q", v.Name(), OriginPrefix)
	}
	return v, nil
}

// ReadKeyFile reads a private key file. It refuses a file that others
// than its owner may read.
func ReadKeyFile(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s: readable by others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKey reads the key file at path, or creates it (mode 0600)
// with a new key for origin when there is none. created says which. When
// two processes create it at once, both end up with the one written
// first. An existing key keeps its own name whatever origin says.
func LoadOrCreateKey(path, origin string) (k *Key, created bool, err error) {
	k, err = ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	skey, err := GenerateKey(origin)
	if err != nil {
		return nil, false, err
	}
	// CreateTemp makes the file 0600 under a unique name; Link, unlike
	// Rename, fails if path appeared meanwhile.
	f, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("audit key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(skey + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("audit key: %w", werr)
	}
	lerr := os.Link(tmp, path)
	if lerr != nil && !errors.Is(lerr, fs.ErrExist) {
		return nil, false, fmt.Errorf("audit key: %w", lerr)
	}
	k, err = ReadKeyFile(path)
	return k, err == nil && lerr == nil, err
}
