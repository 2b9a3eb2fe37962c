package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/argon2"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Roles. A role is what a user may do on the server; every handler checks
// it, whatever the page showed.
const (
	RoleMaker   = "maker"   // uploads and submits sheets, runs approved batches
	RoleChecker = "checker" // approves or rejects batches submitted by others
	RoleAuditor = "auditor" // reads everything, explains reconciliation exceptions
	RoleAdmin   = "admin"   // all of the above (still never approves their own batch)
)

// Roles lists the roles in display order.
var Roles = []string{RoleMaker, RoleChecker, RoleAuditor, RoleAdmin}

// The web component's tables in the ledger, migrated by store.EnsureSchema
// under the component name "web". Plain SQL both ledger engines take.
var migrations = []string{
	`CREATE TABLE web_users (
	name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
	created TEXT NOT NULL, created_by TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE web_sessions (
	id TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
	created TEXT NOT NULL, expires TEXT NOT NULL, seen TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_name);
CREATE TABLE web_uploads (
	id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, name TEXT NOT NULL,
	file TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, status TEXT NOT NULL,
	batch_id TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_uploads_batch ON web_uploads (batch_id)`,
}

// EnsureSchema creates or migrates the web tables in the ledger.
func EnsureSchema(ctx context.Context, l *store.SQL) error {
	return l.EnsureSchema(ctx, "web", migrations)
}

// timeFormat is the ledger's: fixed width, so that times compare as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

// User is a web user.
type User struct {
	Name     string
	Role     string
	Created  time.Time
	Disabled bool
}

// Can reports whether the user's role includes role.
func (u *User) Can(role string) bool {
	return u != nil && !u.Disabled && (u.Role == role || u.Role == RoleAdmin)
}

// CanAny reports whether the user holds any of roles.
func (u *User) CanAny(roles ...string) bool {
	for _, r := range roles {
		if u.Can(r) {
			return true
		}
	}
	return false
}

var (
	ErrBadName     = errors.New("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'")
	ErrBadRole     = errors.New("the role is one of maker, checker, auditor, admin")
	ErrWeak        = errors.New("the password must be at least 12 characters")
	ErrUserExists  = errors.New("the user exists already")
	ErrNoSuchUser  = errors.New("no such user")
	errBadPassword = errors.New("wrong user name or password")
)

// NormalizeName folds a user name to its stored form (lower case): two
// spellings of one name are one user, so that maker ≠ checker holds.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || len(n) > 64 {
		return "", ErrBadName
	}
	for _, r := range n {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@", r)) {
			return "", ErrBadName
		}
	}
	return n, nil
}

// AddUser adds a web user with a role; the password is stored as an
// argon2id hash only. by is who added the user, for the audit trail.
func AddUser(ctx context.Context, l *store.SQL, name, role, password, by string) error {
	if err := EnsureSchema(ctx, l); err != nil {
		return err
	}
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if !validRole(role) {
		return ErrBadRole
	}
	if len([]rune(password)) < 12 {
		return ErrWeak
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	db, d := l.DB(), l.Dialect()
	res, err := db.ExecContext(ctx, d.Rebind(`INSERT INTO web_users (name, role, password, created, created_by) VALUES (?,?,?,?,?) ON CONFLICT (name) DO NOTHING`),
		name, role, hash, fmtTime(time.Now()), by)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", l.Where(), err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: %s", ErrUserExists, name)
	}
	return l.AppendAudit(ctx, store.Audit{Actor: by, Action: "user-added", Detail: fmt.Sprintf("web user %s with role %s", name, role)})
}

// SetPassword replaces a user's password (and signs the user out everywhere).
func SetPassword(ctx context.Context, l *store.SQL, name, password, by string) error {
	if err := EnsureSchema(ctx, l); err != nil {
		return err
	}
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if len([]rune(password)) < 12 {
		return ErrWeak
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	db, d := l.DB(), l.Dialect()
	res, err := db.ExecContext(ctx, d.Rebind(`UPDATE web_users SET password=? WHERE name=?`), hash, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: %s", ErrNoSuchUser, name)
	}
	if _, err := db.ExecContext(ctx, d.Rebind(`DELETE FROM web_sessions WHERE user_name=?`), name); err != nil {
		return err
	}
	return l.AppendAudit(ctx, store.Audit{Actor: by, Action: "password-set", Detail: "web user " + name})
}

// ListUsers lists the web users by name.
func ListUsers(ctx context.Context, l *store.SQL) ([]User, error) {
	if err := EnsureSchema(ctx, l); err != nil {
		return nil, err
	}
	rows, err := l.DB().QueryContext(ctx, `SELECT name, role, created, disabled FROM web_users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created string
		var disabled int
		if err := rows.Scan(&u.Name, &u.Role, &created, &disabled); err != nil {
			return nil, err
		}
		u.Created, u.Disabled = parseTime(created), disabled != 0
		out = append(out, u)
	}
	return out, rows.Err()
}

func validRole(r string) bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Password hashing: argon2id (RFC 9106), memory-hard, with OWASP's
// recommended parameters (46 MiB, one pass, one lane: a few hundred
// milliseconds here), in the PHC string format so that the parameters
// travel with each hash and can be raised later without invalidating older
// hashes.
const (
	argonTime    = 1
	argonMemory  = 46 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// hashSlots bounds concurrent hashes: each takes 46 MiB, and a burst of
// sign-ins must not exhaust the server's memory.
var hashSlots = make(chan struct{}, 2)

func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashSlots
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword compares pw with a PHC argon2id hash in constant time.
func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<21 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	hashSlots <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	<-hashSlots
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked for unknown users so that a wrong name takes as
// long as a wrong password and names cannot be probed by timing. Made on
// first use: every bulkrefund command links this package.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("not a password anyone has")
	return h
})

// authenticate checks a name and password.
func authenticate(ctx context.Context, l *store.SQL, name, pw string) (*User, error) {
	n, err := NormalizeName(name)
	if err != nil {
		checkPassword(dummyHash(), pw)
		return nil, errBadPassword
	}
	var u User
	var hash, created string
	var disabled int
	err = l.DB().QueryRowContext(ctx, l.Dialect().Rebind(`SELECT name, role, password, created, disabled FROM web_users WHERE name=?`), n).
		Scan(&u.Name, &u.Role, &hash, &created, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		checkPassword(dummyHash(), pw)
		return nil, errBadPassword
	}
	if err != nil {
		return nil, err
	}
	if !checkPassword(hash, pw) || disabled != 0 {
		return nil, errBadPassword
	}
	u.Created = parseTime(created)
	return &u, nil
}
