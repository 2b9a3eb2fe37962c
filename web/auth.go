package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Sessions live in the ledger under the SHA-256 of their token, so that a
// copy of the ledger holds no usable session. A session ends after
// sessionTTL, or after idleTTL without a request.
const (
	sessionTTL = 12 * time.Hour
	idleTTL    = 2 * time.Hour
)

type session struct {
	id   string // the token's hash
	User *User
	CSRF string
	seen time.Time
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (s *Server) cookieName() string {
	if s.o.SecureCookies {
		return "__Host-bulkrefund-session" // Secure, Path=/, no Domain: bound to this origin
	}
	return "bulkrefund-session"
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode})
}

func (s *Server) newSession(ctx context.Context, u *User) (token string, err error) {
	token = randomToken()
	now := time.Now()
	d := s.l.Dialect()
	// Old sessions of anyone are swept on the way, so the table stays small.
	s.l.DB().ExecContext(ctx, d.Rebind(`DELETE FROM web_sessions WHERE expires<? OR seen<?`), fmtTime(now), fmtTime(now.Add(-idleTTL)))
	_, err = s.l.DB().ExecContext(ctx, d.Rebind(`INSERT INTO web_sessions (id, user_name, csrf, created, expires, seen) VALUES (?,?,?,?,?,?)`),
		tokenID(token), u.Name, randomToken(), fmtTime(now), fmtTime(now.Add(sessionTTL)), fmtTime(now))
	return token, err
}

// sessionOf finds the request's live session; nil if none.
func (s *Server) sessionOf(r *http.Request) (*session, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return nil, nil
	}
	now := time.Now()
	var sess session
	var u User
	var expires, seen string
	var disabled int
	err = s.l.DB().QueryRowContext(r.Context(), s.l.Dialect().Rebind(`SELECT s.id, s.csrf, s.expires, s.seen, u.name, u.role, u.disabled
		FROM web_sessions s JOIN web_users u ON u.name=s.user_name WHERE s.id=?`), tokenID(c.Value)).
		Scan(&sess.id, &sess.CSRF, &expires, &seen, &u.Name, &u.Role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.seen = parseTime(seen)
	if disabled != 0 || parseTime(expires).Before(now) || sess.seen.Before(now.Add(-idleTTL)) {
		return nil, nil
	}
	sess.User = &u
	// Refreshed at most once a minute: a page that polls progress must not
	// write to the ledger every second.
	if now.Sub(sess.seen) > time.Minute {
		s.l.DB().ExecContext(r.Context(), s.l.Dialect().Rebind(`UPDATE web_sessions SET seen=? WHERE id=?`), fmtTime(now), sess.id)
	}
	return &sess, nil
}

// handlerFunc is a page or action of a signed-in user. An error it returns
// is shown as a page: an *httpError with its status and words, anything
// else as 500 (the details go to the log, not the page).
type handlerFunc func(w http.ResponseWriter, r *http.Request, sess *session) error

type httpError struct {
	Status int
	Msg    string
}

func (e *httpError) Error() string { return e.Msg }

func errorf(status int, format string, a ...any) error {
	return &httpError{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// auth is the gate of every page and action: a live session, one of the
// roles (admin holds them all), and for any request that changes state,
// the session's CSRF token. It is checked here, on the server, whatever
// the page offered.
func (s *Server) auth(roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.sessionOf(r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") && !strings.HasSuffix(r.URL.Path, "/progress") {
				http.Redirect(w, r, "/login?next="+safeNext(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, nil, errorf(http.StatusUnauthorized, "Sign in first."))
			return
		}
		if !sess.User.CanAny(roles...) {
			s.log.Warn("web: refused by role", "user", sess.User.Name, "role", sess.User.Role, "method", r.Method, "path", r.URL.Path)
			s.fail(w, r, sess, errorf(http.StatusForbidden, "Your role (%s) may not do this: it needs %s.", sess.User.Role, strings.Join(roles, " or ")))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			limit := int64(1 << 20)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				limit += s.o.MaxUpload
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			ok, r2 := checkCSRF(r, sess.CSRF)
			if !ok {
				s.log.Warn("web: refused without a valid CSRF token", "user", sess.User.Name, "path", r.URL.Path)
				s.fail(w, r, sess, errorf(http.StatusForbidden, "This form has expired or did not come from this site (CSRF token missing or wrong). Reload the page and try again."))
				return
			}
			r = r2
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := h(w, r, sess); err != nil {
			s.fail(w, r, sess, err)
		}
	})
}

type multipartKey struct{}

// checkCSRF compares the request's CSRF token with the session's in
// constant time: the X-CSRF-Token header, else the form's csrf field. A
// multipart form (an upload) is streamed, not parsed into memory: its
// first part must be the csrf field, and the reader, past it, travels on
// in the request's context for the handler (multipartOf).
func checkCSRF(r *http.Request, want string) (bool, *http.Request) {
	same := func(got string) bool {
		return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	if h := r.Header.Get("X-CSRF-Token"); h != "" {
		return same(h), r
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return same(r.PostFormValue("csrf")), r
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return false, r
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "csrf" {
		return false, r
	}
	b, _ := io.ReadAll(io.LimitReader(p, 256))
	if !same(string(b)) {
		return false, r
	}
	return true, r.WithContext(context.WithValue(r.Context(), multipartKey{}, mr))
}

// multipartOf is the multipart reader checkCSRF left past the token.
func multipartOf(r *http.Request) *multipart.Reader {
	mr, _ := r.Context().Value(multipartKey{}).(*multipart.Reader)
	return mr
}

// safeNext keeps a post-login redirect on this site.
func safeNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

const loginCSRFCookie = "bulkrefund-login"

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	// Login forms carry a token of their own (double-submit cookie): no
	// other site can sign a browser in under an account of its choosing.
	tok := randomToken()
	s.setCookie(w, loginCSRFCookie, tok, 3600)
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "login", nil, map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "LoginCSRF": tok})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name, pw, next := r.PostFormValue("name"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	again := func(status int, msg string) {
		tok := randomToken()
		s.setCookie(w, loginCSRFCookie, tok, 3600)
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, status, "login", nil, map[string]any{"Next": next, "LoginCSRF": tok, "Error": msg, "Name": name})
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		again(http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	ip := clientIP(r)
	norm, _ := NormalizeName(name)
	if wait, ok := s.logins.allow(norm, ip); !ok {
		s.log.Warn("web: sign-in rate limited", "user", norm, "ip", ip)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+1)))
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many sign-in attempts. Wait %d seconds and try again.", int(wait.Seconds()+1)))
		return
	}
	u, err := authenticate(r.Context(), s.l, name, pw)
	if err != nil {
		if !errors.Is(err, errBadPassword) {
			s.log.Error("web: sign-in", "error", err)
		}
		s.log.Warn("web: sign-in failed", "user", norm, "ip", ip)
		again(http.StatusUnauthorized, "Wrong user name or password.")
		return
	}
	token, err := s.newSession(r.Context(), u)
	if err != nil {
		s.log.Error("web: new session", "error", err)
		again(http.StatusInternalServerError, "Could not sign in (see the server log).")
		return
	}
	s.setCookie(w, loginCSRFCookie, "", -1)
	s.setCookie(w, s.cookieName(), token, int(sessionTTL.Seconds()))
	s.l.AppendAudit(r.Context(), store.Audit{Actor: u.Name, Action: "signed-in", Detail: "from " + ip})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) error {
	s.l.DB().ExecContext(r.Context(), s.l.Dialect().Rebind(`DELETE FROM web_sessions WHERE id=?`), sess.id)
	s.setCookie(w, s.cookieName(), "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// clientIP is the peer's address. Forwarded headers are not trusted: a
// client could name any address and escape the per-address limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter bounds sign-in attempts per user name and per client
// address (token buckets from golang.org/x/time/rate): a password cannot be
// guessed faster than a few tries a minute, and one address cannot try
// many names. Attempts are counted before the password is checked, so the
// limit also bounds the memory-hard hashing a client can cause.
type loginLimiter struct {
	mu     sync.Mutex
	users  map[string]*limiterEntry
	ips    map[string]*limiterEntry
	now    func() time.Time
	perUse rate.Limit
	uBurst int
	perIP  rate.Limit
	iBurst int
}

type limiterEntry struct {
	lim  *rate.Limiter
	used time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{users: map[string]*limiterEntry{}, ips: map[string]*limiterEntry{}, now: time.Now,
		perUse: rate.Every(30 * time.Second), uBurst: 5, perIP: rate.Every(5 * time.Second), iBurst: 20}
}

// allow takes one attempt from both buckets; if either is empty it takes
// none and says how long to wait.
func (l *loginLimiter) allow(user, ip string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	get := func(m map[string]*limiterEntry, k string, r rate.Limit, b int) *rate.Limiter {
		e, ok := m[k]
		if !ok {
			if len(m) > 10000 {
				for k, e := range m { // forget buckets idle for an hour
					if now.Sub(e.used) > time.Hour {
						delete(m, k)
					}
				}
			}
			e = &limiterEntry{lim: rate.NewLimiter(r, b)}
			m[k] = e
		}
		e.used = now
		return e.lim
	}
	ul, il := get(l.users, user, l.perUse, l.uBurst), get(l.ips, ip, l.perIP, l.iBurst)
	ur, ir := ul.ReserveN(now, 1), il.ReserveN(now, 1)
	wait := max(ur.DelayFrom(now), ir.DelayFrom(now))
	if wait > 0 {
		ur.CancelAt(now)
		ir.CancelAt(now)
		return wait, false
	}
	return 0, true
}
