package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// pages are the parsed templates: each page with the layout, and the
// fragments live updates fetch on their own.
type pages struct {
	page map[string]*template.Template
	frag *template.Template
}

var pageNames = []string{"login", "error", "home", "upload", "uploaded", "batch", "watch", "reconcile", "audit"}

func loadPages() (*pages, error) {
	p := &pages{page: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p.page[n] = t
	}
	t, err := template.New("parts").Funcs(funcs).ParseFS(templateFS, "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("web: template parts: %w", err)
	}
	p.frag = t
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title string
	User  *User
	CSRF  string
	Flash string
	Nav   string
	Page  any
}

// flashes are the messages a redirect may ask a page to show, by key:
// never text from the request itself.
var flashes = map[string]string{
	"submitted": "Submitted. A checker (someone other than you) approves or rejects it here.",
	"approved":  "Approved. A maker can run it now.",
	"rejected":  "Rejected. It will never run; a corrected sheet is a new batch.",
	"started":   "The run started. Progress updates below without reloading.",
	"explained": "Your explanation is recorded in the audit trail.",
	"resumed":   "These rows are a batch the ledger holds already: here it is.",
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, sess *session, data any) {
	v := view{Title: titles[name], Page: data, Nav: name, Flash: flashes[r.URL.Query().Get("done")]}
	if sess != nil {
		v.User, v.CSRF = sess.User, sess.CSRF
	}
	var buf bytes.Buffer
	if err := s.pages.page[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("web: rendering", "page", name, "error", err)
		http.Error(w, "internal error (see the server log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders one part of a page alone, for live updates.
func (s *Server) fragment(w http.ResponseWriter, name string, data any) error {
	var buf bytes.Buffer
	if err := s.pages.frag.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := w.Write(buf.Bytes())
	return err
}

var titles = map[string]string{
	"login": "Sign in", "error": "Problem", "home": "Batches", "upload": "Upload a refund sheet",
	"uploaded": "Uploaded sheet", "batch": "Batch", "watch": "Run progress", "reconcile": "Reconciliation", "audit": "Audit log",
}

// fail shows err as a page: an *httpError with its words and status,
// anything else as an internal error whose details stay in the log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			he = &httpError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("The file is larger than the limit of %s.", sizeText(s.o.MaxUpload))}
		} else {
			s.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			he = &httpError{Status: http.StatusInternalServerError, Msg: "Something went wrong on the server; the details are in its log."}
		}
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") || strings.HasSuffix(r.URL.Path, "/events") {
		http.Error(w, he.Msg, he.Status)
		return
	}
	s.render(w, r, he.Status, "error", sess, map[string]any{"Status": he.Status, "Msg": he.Msg})
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

var funcs = template.FuncMap{
	"amount": func(minor int64, cur money.Currency) string { return money.FormatGrouped(minor, cur) },
	"group":  func(n any) string { return money.Group(toInt64(n)) },
	"short":  func(id string) string { return shortID(id) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"age":   age,
	"size":  func(n int64) string { return sizeText(n) },
	"pct":   func(a, b int64) int64 { return pct(a, b) },
	"state": func(s store.State) string { return string(s) },
	"add":   func(a, b int) int { return a + b },
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case int32:
		return int64(x)
	}
	return 0
}

func pct(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return a * 100 / b
}

// age is how long ago t was, in the largest whole unit.
func age(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return "just now"
}
