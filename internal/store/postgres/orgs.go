package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"fusion/internal/store"
)

const orgCols = `id, name, kind, country, created`

func scanOrg(row pgx.Row) (store.Org, error) {
	var (
		o       store.Org
		created *int64
	)
	if err := row.Scan(&o.ID, &o.Name, &o.Kind, &o.Country, &created); err != nil {
		return store.Org{}, err
	}
	o.Created = nanosTime(created)
	return o, nil
}

// CreateOrg creates o. ErrExists if its id or name is taken.
func (db *DB) CreateOrg(ctx context.Context, o store.Org) error {
	created, err := nullNanos(o.Created, "created")
	if err != nil {
		return fmt.Errorf("postgres: create org %s: %w", o.ID, err)
	}
	err = db.execRecorded(ctx, store.Change{Op: store.OpOrgCreate, Org: &o}, anyRows,
		`INSERT INTO orgs (`+orgCols+`) VALUES ($1, $2, $3, $4, $5)`,
		o.ID, o.Name, o.Kind, o.Country, created)
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("postgres: create org %s (%s): %w", o.ID, o.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create org %s: %w", o.ID, err)
	}
	return nil
}

// GetOrg returns the organisation with id; ErrNotFound if none.
func (db *DB) GetOrg(ctx context.Context, id string) (store.Org, error) {
	o, err := scanOrg(db.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Org{}, fmt.Errorf("postgres: org %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Org{}, fmt.Errorf("postgres: org %s: %w", id, err)
	}
	return o, nil
}

// GetOrgByName returns the organisation called name; ErrNotFound if none.
func (db *DB) GetOrgByName(ctx context.Context, name string) (store.Org, error) {
	o, err := scanOrg(db.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Org{}, fmt.Errorf("postgres: org named %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Org{}, fmt.Errorf("postgres: org named %q: %w", name, err)
	}
	return o, nil
}

// ListOrgs returns every organisation ordered by name (bytewise).
func (db *DB) ListOrgs(ctx context.Context) ([]store.Org, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list orgs: %w", err)
	}
	os, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Org, error) { return scanOrg(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list orgs: %w", err)
	}
	return os, nil
}

const tokenCols = `id, org_id, role, hash, label, created, expires, revoked`

func scanToken(row pgx.Row) (store.Token, error) {
	var (
		t                         store.Token
		created, expires, revoked *int64
	)
	if err := row.Scan(&t.ID, &t.OrgID, &t.Role, &t.Hash, &t.Label, &created, &expires, &revoked); err != nil {
		return store.Token{}, err
	}
	t.Created, t.Expires, t.Revoked = nanosTime(created), nanosTime(expires), nanosTime(revoked)
	return t, nil
}

// CreateToken stores t. ErrExists if its id or hash is taken, ErrNotFound
// if its organisation does not exist.
func (db *DB) CreateToken(ctx context.Context, t store.Token) error {
	var ns [3]*int64
	for i, f := range []struct {
		t    time.Time
		what string
	}{{t.Created, "created"}, {t.Expires, "expires"}, {t.Revoked, "revoked"}} {
		var err error
		if ns[i], err = nullNanos(f.t, f.what); err != nil {
			return fmt.Errorf("postgres: create token %s: %w", t.ID, err)
		}
	}
	logged := t
	logged.Hash = nil // the recorder never sees the secret's hash
	err := db.execRecorded(ctx, store.Change{Op: store.OpTokenCreate, Token: &logged}, anyRows,
		`INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, t.OrgID, t.Role, t.Hash, t.Label, ns[0], ns[1], ns[2])
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("postgres: create token %s: %w", t.ID, store.ErrExists)
	}
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("postgres: create token %s: org %s: %w", t.ID, t.OrgID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret has SHA-256 hash, revoked
// and expired ones included; ErrNotFound if none.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, fmt.Errorf("postgres: token by hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("postgres: token by hash: %w", err)
	}
	return t, nil
}

// ListTokens returns orgID's tokens (every token when orgID is empty)
// ordered by created time (zero first), then id.
func (db *DB) ListTokens(ctx context.Context, orgID string) ([]store.Token, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if orgID == "" {
		rows, err = db.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created NULLS FIRST, id`)
	} else {
		rows, err = db.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE org_id = $1 ORDER BY created NULLS FIRST, id`, orgID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken sets the revocation time of token id to at. ErrNotFound if
// there is no such token.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	n, err := nullNanos(at, "revocation time")
	if err != nil {
		return fmt.Errorf("postgres: revoke token %s: %w", id, err)
	}
	if db.recorder == nil {
		err = db.execRecorded(ctx, store.Change{}, oneRow, `UPDATE tokens SET revoked = $2 WHERE id = $1`, id, n)
	} else {
		err = db.revokeRecorded(ctx, id, at, n)
	}
	if err != nil {
		return fmt.Errorf("postgres: revoke token %s: %w", id, err)
	}
	return nil
}

// revokeRecorded revokes token id and records the change, with the
// token's organisation, in one transaction.
func (db *DB) revokeRecorded(ctx context.Context, id string, at time.Time, n any) error {
	tx, err := db.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tok := &store.Token{ID: id, Revoked: at}
	err = tx.QueryRow(ctx, `UPDATE tokens SET revoked = $2 WHERE id = $1 RETURNING org_id`, id, n).Scan(&tok.OrgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := db.record(ctx, tx, store.Change{Op: store.OpTokenRevoke, Token: tok}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
