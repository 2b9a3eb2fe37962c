package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/report/history"
)

// The Reconcile page reads the exception history the nightly `reconcile
// --ledger` keeps in the ledger (package report/history): the latest night,
// and the exceptions still open, oldest first, with their age. An auditor
// explains one; the explanation is added to the history and to the audit
// trail, never edited.

const exceptionsPerPage = 100

type exceptionView struct {
	history.Exception
	Age       string
	Explained bool
	Latest    string // the latest explanation: who, when, what
}

func (s *Server) reconcilePage(w http.ResponseWriter, r *http.Request, sess *session) error {
	ctx := r.Context()
	night, ok, err := s.hist.Latest(ctx)
	if err != nil {
		return err
	}
	list, err := s.hist.List(ctx, false) // open ones, oldest first
	if err != nil {
		return err
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pages := max(1, (len(list)+exceptionsPerPage-1)/exceptionsPerPage)
	page = min(max(page, 0), pages-1)
	explained := 0
	for i := range list {
		if list[i].Explained() {
			explained++
		}
	}
	from, to := page*exceptionsPerPage, min((page+1)*exceptionsPerPage, len(list))
	views := make([]exceptionView, 0, to-from)
	for _, e := range list[from:to] {
		v := exceptionView{Exception: e, Age: age(e.FirstSeen), Explained: e.Explained()}
		if n := len(e.Resolutions); n > 0 {
			res := e.Resolutions[n-1]
			v.Latest = res.By + ", " + res.At.Local().Format("2006-01-02 15:04") + ": " + res.Note
			if !v.Explained {
				v.Latest += " (given when it was " + res.Category.String() + ")"
			}
		}
		views = append(views, v)
	}
	s.render(w, r, http.StatusOK, "reconcile", sess, map[string]any{
		"Night": night, "HasNight": ok, "Exceptions": views, "Open": len(list), "Explained": explained,
		"Page": page, "Pages": pages, "CanExplain": sess.User.Can(RoleAuditor),
	})
	return nil
}

// explain records an auditor's explanation of an open exception.
func (s *Server) explain(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := strings.TrimSpace(r.PostFormValue("exception"))
	note := strings.Join(strings.Fields(r.PostFormValue("note")), " ")
	if id == "" || note == "" {
		return errorf(http.StatusBadRequest, "Not recorded: say which exception, and explain it in the note.")
	}
	if len([]rune(note)) > 2000 {
		return errorf(http.StatusBadRequest, "Not recorded: keep the note under 2,000 characters.")
	}
	_, err := s.hist.Resolve(r.Context(), id, note, sess.User.Name, time.Now())
	switch {
	case errors.Is(err, history.ErrNoException), errors.Is(err, history.ErrAmbiguous):
		return errorf(http.StatusConflict, "Not recorded: %v", err)
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/reconcile?done=explained#exc-"+id, http.StatusSeeOther)
	return nil
}
