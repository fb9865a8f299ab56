package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"fusion/internal/store"
)

const tokenColumns = `id, org_id, role, hash, label, created, expires, revoked`

func scanToken(s scanner) (store.Token, error) {
	var (
		t                         store.Token
		created, expires, revoked sql.NullInt64
	)
	if err := s.Scan(&t.ID, &t.OrgID, &t.Role, &t.Hash, &t.Label, &created, &expires, &revoked); err != nil {
		return store.Token{}, err
	}
	t.Created, t.Expires, t.Revoked = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return t, nil
}

// CreateToken inserts t; a zero Created becomes the current time.
// ErrExists on a duplicate id or hash; ErrNotFound when t.OrgID does not
// exist.
func (db *DB) CreateToken(ctx context.Context, t store.Token) error {
	if err := ctxErr(ctx, "create token"); err != nil {
		return err
	}
	t.Created = asStored(orNow(t.Created)) // as stored, for the recorder
	logged := t
	logged.Hash = nil // the recorder never sees the secret's hash
	logged.Expires, logged.Revoked = asStored(t.Expires), asStored(t.Revoked)
	err := db.write(ctx, store.Change{Op: store.OpTokenCreate, Token: &logged}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.OrgID, t.Role, t.Hash, t.Label, t.Created.UnixMicro(), micros(t.Expires), micros(t.Revoked))
		return constraint(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create token %s for org %s: %w", t.ID, t.OrgID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret has this SHA-256, revoked
// and expired ones included; ErrNotFound when there is none.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	if err := ctxErr(ctx, "token by hash"); err != nil {
		return store.Token{}, err
	}
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: token by hash: %w", err)
	}
	return t, nil
}

// ListTokens returns an organisation's tokens (every token when orgID is
// empty) ordered by created, then id.
func (db *DB) ListTokens(ctx context.Context, orgID string) ([]store.Token, error) {
	if err := ctxErr(ctx, "list tokens"); err != nil {
		return nil, err
	}
	query := `SELECT ` + tokenColumns + ` FROM tokens ORDER BY created, id`
	var args []any
	if orgID != "" {
		query = `SELECT ` + tokenColumns + ` FROM tokens WHERE org_id = ? ORDER BY created, id`
		args = append(args, orgID)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var ts []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken records that token id was revoked at at (a later call
// overwrites the time). ErrNotFound for an unknown id.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if err := ctxErr(ctx, "revoke token"); err != nil {
		return err
	}
	at = asStored(orNow(at))                 // as stored, for the recorder
	tok := &store.Token{ID: id, Revoked: at} // OrgID filled in for the recorder
	err := db.write(ctx, store.Change{Op: store.OpTokenRevoke, Token: tok}, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE tokens SET revoked = ? WHERE id = ? RETURNING org_id`, at.UnixMicro(), id).Scan(&tok.OrgID)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %s: %w", id, err)
	}
	return nil
}
