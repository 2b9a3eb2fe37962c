package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// An upload is stored under the data directory as uploads/<random id>.csv
// or .xlsx: the name is generated, the extension follows the content (not
// the name the browser sent), and the file is created through an os.Root
// of the data directory, which no name or link can lead out of. Beside it:
// <id>.errors.xlsx (the errors file) and <id>.invalid.jsonl (the invalid
// rows with their cells, for the page).

// upload record statuses.
const (
	uploadValid    = "valid"    // every row valid: a plan
	uploadInvalid  = "invalid"  // some rows invalid: nothing can be submitted
	uploadUnusable = "unusable" // the file as a whole cannot be read
)

// uploadSummary is what validating and planning an upload found, kept with
// the upload so that its page does not validate the file again.
type uploadSummary struct {
	Format    string
	Read      int
	Valid     int
	Invalid   int
	Blank     int
	Warnings  []string
	Header    []string
	FileError string // the file as a whole is unusable: why

	BatchID  string
	Totals   []app.Total
	ByCur    []app.Total
	Limits   []app.LimitCheck
	Breaches []string
	// The ledger's word: refunds it holds already, and conflicts.
	New, Known int
	Resumed    bool
	Conflicts  []string
	// Maker-checker and confirmation.
	NeedsApproval bool
	ApprovalWhy   string
	TypedConfirm  []app.Total
}

// Submittable: a valid sheet within the limits and without conflicts.
func (u uploadSummary) Submittable() bool {
	return u.FileError == "" && u.Invalid == 0 && u.Valid > 0 && len(u.Breaches) == 0 && len(u.Conflicts) == 0
}

type uploadRecord struct {
	ID, Actor, Name, File, SHA256, Status, BatchID string
	At                                             time.Time
	Size                                           int64
	Summary                                        uploadSummary
}

// invalidRow is one line of <id>.invalid.jsonl.
type invalidRow struct {
	Row    int        `json:"row"`
	Cells  []string   `json:"cells"`
	Errors []rowIssue `json:"errors"`
}

type rowIssue struct {
	Column string `json:"column,omitempty"`
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
}

func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request, sess *session) error {
	s.render(w, r, http.StatusOK, "upload", sess, map[string]any{"Max": sizeText(s.o.MaxUpload)})
	return nil
}

// upload stores the file, validates it, weighs it against the limits and
// the ledger, and shows the result.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, sess *session) error {
	mr := multipartOf(r)
	if mr == nil {
		return errorf(http.StatusBadRequest, "Send the sheet as a file upload (multipart form).")
	}
	id := randomID()
	var name string
	var size int64
	var sum [32]byte
	var ext string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if p.FormName() != "sheet" {
			continue
		}
		name = cleanName(p.FileName())
		ext, size, sum, err = s.storeUpload(id, p)
		if err != nil {
			return err
		}
		break
	}
	if ext == "" {
		return errorf(http.StatusBadRequest, "Choose a CSV or XLSX file to upload.")
	}
	rec := uploadRecord{ID: id, Actor: sess.User.Name, Name: name, File: id + ext, Size: size, SHA256: hex.EncodeToString(sum[:]), At: time.Now()}
	rec.Summary, rec.Status = s.examine(r.Context(), rec)
	rec.BatchID = rec.Summary.BatchID
	if err := s.saveUpload(r.Context(), rec); err != nil {
		return err
	}
	detail := fmt.Sprintf("%s (%s, sha256 %s): %d rows read, %d valid, %d invalid", name, sizeText(size), rec.SHA256, rec.Summary.Read, rec.Summary.Valid, rec.Summary.Invalid)
	if rec.Summary.FileError != "" {
		detail = fmt.Sprintf("%s (%s, sha256 %s): unusable: %s", name, sizeText(size), rec.SHA256, rec.Summary.FileError)
	}
	if err := s.l.AppendAudit(r.Context(), store.Audit{Actor: sess.User.Name, Action: "uploaded", BatchID: rec.BatchID, Detail: detail}); err != nil {
		return err
	}
	http.Redirect(w, r, "/uploads/"+id, http.StatusSeeOther)
	return nil
}

func randomID() string { return tokenID(randomToken())[:32] }

// cleanName keeps the browser's file name for display only: its last
// element, printable, bounded.
func cleanName(n string) string {
	n = filepath.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n)
	if !utf8.ValidString(n) {
		n = strings.ToValidUTF8(n, "?")
	}
	if r := []rune(n); len(r) > 120 {
		n = string(r[:120])
	}
	if n == "" || n == "." || n == "/" {
		n = "sheet"
	}
	return n
}

// storeUpload copies the part to uploads/<id>.part under the size limit,
// decides its type from its first bytes, and renames it to
// uploads/<id>.csv or .xlsx. A file of any other type is removed.
func (s *Server) storeUpload(id string, src io.Reader) (ext string, n int64, sum [32]byte, err error) {
	part := "uploads/" + id + ".part"
	f, err := s.root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, sum, err
	}
	defer func() {
		f.Close()
		if err != nil {
			s.root.Remove(part)
		}
	}()
	h := sha256.New()
	head := &headBuffer{max: 8 << 10}
	n, err = io.Copy(io.MultiWriter(f, h, head), io.LimitReader(src, s.o.MaxUpload+1))
	if err != nil {
		return "", n, sum, err
	}
	if n > s.o.MaxUpload {
		return "", n, sum, errorf(http.StatusRequestEntityTooLarge, "The file is larger than the limit of %s.", sizeText(s.o.MaxUpload))
	}
	if n == 0 {
		return "", 0, sum, errorf(http.StatusBadRequest, "The file is empty.")
	}
	if err := f.Sync(); err != nil {
		return "", n, sum, err
	}
	ext, err = sniff(head.Bytes())
	if err != nil {
		return "", n, sum, err
	}
	if err := s.root.Rename(part, "uploads/"+id+ext); err != nil {
		return "", n, sum, err
	}
	copy(sum[:], h.Sum(nil))
	return ext, n, sum, nil
}

type headBuffer struct {
	bytes.Buffer
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// sniff decides a file's type by its content: an XLSX is a ZIP archive
// (an old .xls, a PDF or an image is refused by name); a CSV is text with
// no NUL bytes in UTF-8, UTF-16 with its BOM, or a legacy Chinese encoding.
func sniff(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return ".xlsx", nil
	case bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0")):
		return "", errorf(http.StatusUnsupportedMediaType, "This is an old Excel 97–2003 (.xls) file. Save it as .xlsx (Excel Workbook) or CSV and upload that.")
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "", errorf(http.StatusUnsupportedMediaType, "This is a PDF. Upload the refund sheet as .xlsx or CSV.")
	case bytes.HasPrefix(head, []byte("\xff\xfe")) || bytes.HasPrefix(head, []byte("\xfe\xff")):
		return ".csv", nil
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return "", errorf(http.StatusUnsupportedMediaType, "This file is neither a CSV nor an XLSX spreadsheet (it holds binary data).")
	}
	ct := http.DetectContentType(head)
	if !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "text/csv") && !strings.HasPrefix(ct, "application/octet-stream") {
		return "", errorf(http.StatusUnsupportedMediaType, "This file is neither a CSV nor an XLSX spreadsheet (it looks like %s).", strings.SplitN(ct, ";", 2)[0])
	}
	return ".csv", nil
}

func (s *Server) uploadPath(file string) string { return filepath.Join(s.dataDir, "uploads", file) }

// examine validates the stored upload, writes its errors file and invalid
// rows, and plans it against the limits and the ledger (without writing).
func (s *Server) examine(ctx context.Context, rec uploadRecord) (uploadSummary, string) {
	var sum uploadSummary
	var ew *sheet.ErrorsWriter
	inv, err := s.root.OpenFile("uploads/"+rec.ID+".invalid.jsonl", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		sum.FileError = "the server could not write its working files"
		s.log.Error("web: upload", "error", err)
		return sum, uploadUnusable
	}
	bw := bufio.NewWriter(inv)
	enc := json.NewEncoder(bw)
	spec := app.SheetSpec{Path: s.uploadPath(rec.File), MaxErrors: 0,
		Options: sheet.Options{Defaults: s.defaults(), OnHeader: func(header []string) error {
			var err error
			ew, err = sheet.NewErrorsWriter(s.uploadPath(rec.ID+".errors.xlsx"), header)
			return err
		}},
		OnInvalid: func(cells []string, errs []*sheet.RowError) error {
			row := invalidRow{Cells: cells}
			for _, e := range errs {
				row.Row = e.Row
				row.Errors = append(row.Errors, rowIssue{Column: e.Column, Value: e.Value, Reason: plainReason(e)})
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
			return ew.Write(row.Row, cells, errs)
		}}
	p, err := app.Load(spec, rec.Actor)
	if ew != nil {
		if cerr := ew.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	inv.Close()
	if p != nil {
		v := p.Validation
		sum.Format, sum.Read, sum.Valid, sum.Invalid, sum.Blank, sum.Warnings, sum.Header = v.Format, v.Read, v.Valid, v.Invalid, v.Blank, v.Warnings, v.Header
	}
	if sum.Invalid == 0 {
		s.root.Remove("uploads/" + rec.ID + ".errors.xlsx")
	}
	if err != nil {
		sum.FileError = fileProblem(err, s.uploadPath(rec.File), rec.Name)
		return sum, uploadUnusable
	}
	if sum.Invalid > 0 {
		return sum, uploadInvalid
	}
	s.plan(ctx, p, &sum)
	return sum, uploadValid
}

// defaults fills a sheet's blank cells from the provider config (PayEase's
// notify_url) before validation, as a CLI run does, so that the batch
// records what is sent.
func (s *Server) defaults() func(provider, account string) map[string]string {
	if s.o.Providers == nil {
		return nil
	}
	return s.o.Providers.Defaults
}

// plainReason is a row error in words, without the row number (the page
// shows it) and with the cell named.
func plainReason(e *sheet.RowError) string {
	if e.Err == nil {
		return "invalid"
	}
	return e.Err.Error()
}

// fileProblem says why a file is unusable without naming the server's
// own path for it.
func fileProblem(err error, path, name string) string {
	return strings.ReplaceAll(err.Error(), path, name)
}

// plan fills the plan part of a valid upload's summary.
func (s *Server) plan(ctx context.Context, p *app.Planned, sum *uploadSummary) {
	sum.BatchID = p.Meta.BatchID
	sum.Totals = app.Totals(p.Items)
	sum.ByCur = app.CurrencyTotals(p.Items)
	sum.Limits, sum.Breaches = limitsOf(s.ctl, p.Items)
	sum.NeedsApproval, sum.ApprovalWhy = s.ctl.NeedsApproval(sum.ByCur)
	sum.TypedConfirm = s.ctl.TypedConfirmation(sum.ByCur)
	res, err := app.Check(ctx, s.l, p)
	sum.New, sum.Known, sum.Resumed = res.New, res.Known, res.Resumed
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		for _, c := range ce.Rows {
			sum.Conflicts = append(sum.Conflicts, fmt.Sprintf("row %d: %s refund %s (order %s, %s %s) is already in the ledger from batch %.16s as %s %s of order %s, %s",
				c.Row, c.Given.Provider, c.Given.RefundNo, c.Given.OrderNo, money.FormatGrouped(c.Given.Amount, c.Given.Currency), c.Given.Currency,
				c.Earlier.FirstBatch, money.FormatGrouped(c.Earlier.Amount, c.Earlier.Currency), c.Earlier.Currency, c.Earlier.OrderNo, c.Earlier.State))
		}
	case err != nil:
		sum.Conflicts = append(sum.Conflicts, err.Error())
	}
}

func (s *Server) saveUpload(ctx context.Context, rec uploadRecord) error {
	b, err := json.Marshal(rec.Summary)
	if err != nil {
		return err
	}
	_, err = s.l.DB().ExecContext(ctx, s.l.Dialect().Rebind(`INSERT INTO web_uploads (id, at, actor, name, file, size, sha256, status, batch_id, summary) VALUES (?,?,?,?,?,?,?,?,?,?)`),
		rec.ID, fmtTime(rec.At), rec.Actor, rec.Name, rec.File, rec.Size, rec.SHA256, rec.Status, rec.BatchID, string(b))
	return err
}

const uploadCols = `id, at, actor, name, file, size, sha256, status, batch_id, summary`

func scanUpload(sc interface{ Scan(...any) error }) (uploadRecord, error) {
	var rec uploadRecord
	var at, summary string
	if err := sc.Scan(&rec.ID, &at, &rec.Actor, &rec.Name, &rec.File, &rec.Size, &rec.SHA256, &rec.Status, &rec.BatchID, &summary); err != nil {
		return rec, err
	}
	rec.At = parseTime(at)
	if summary != "" {
		if err := json.Unmarshal([]byte(summary), &rec.Summary); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

func (s *Server) loadUpload(ctx context.Context, id string) (uploadRecord, error) {
	if !isHexID(id) {
		return uploadRecord{}, errorf(http.StatusNotFound, "No such upload.")
	}
	rec, err := scanUpload(s.l.DB().QueryRowContext(ctx, s.l.Dialect().Rebind(`SELECT `+uploadCols+` FROM web_uploads WHERE id=?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return rec, errorf(http.StatusNotFound, "No such upload.")
	}
	return rec, err
}

// uploadOfBatch is the latest upload whose rows are the batch; ok false if
// the batch was planned another way (the CLI).
func (s *Server) uploadOfBatch(ctx context.Context, batchID string) (uploadRecord, bool, error) {
	rec, err := scanUpload(s.l.DB().QueryRowContext(ctx, s.l.Dialect().Rebind(`SELECT `+uploadCols+` FROM web_uploads WHERE batch_id=? ORDER BY at DESC LIMIT 1`), batchID))
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	return rec, err == nil, err
}

func isHexID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// invalidPage reads one page of an upload's invalid rows.
func (s *Server) invalidPage(id string, page, per int) ([]invalidRow, bool, error) {
	f, err := s.root.Open("uploads/" + id + ".invalid.jsonl")
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []invalidRow
	n := 0
	for sc.Scan() {
		if n >= page*per && n < (page+1)*per {
			var row invalidRow
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return nil, false, err
			}
			out = append(out, row)
		}
		n++
		if n > (page+1)*per {
			return out, true, nil
		}
	}
	return out, false, sc.Err()
}

// cellView is one cell of an invalid row as the page shows it.
type cellView struct {
	Text   string
	Bad    bool
	Reason string
}

type invalidView struct {
	Row     int
	Cells   []cellView
	Reasons []string
}

// markCells lines a row's errors up with the header: the cells at fault
// are marked with their reason; errors about the whole row are listed.
func markCells(header []string, row invalidRow) invalidView {
	v := invalidView{Row: row.Row}
	n := max(len(header), len(row.Cells))
	v.Cells = make([]cellView, n)
	for i := range v.Cells {
		if i < len(row.Cells) {
			v.Cells[i].Text = row.Cells[i]
		}
	}
	for _, e := range row.Errors {
		col := -1
		for i, h := range header {
			if e.Column != "" && strings.TrimSpace(h) == strings.TrimSpace(e.Column) {
				col = i
				break
			}
		}
		if col >= 0 {
			v.Cells[col].Bad = true
			v.Cells[col].Reason = strings.TrimSpace(v.Cells[col].Reason + " " + e.Reason)
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s %q: %s", e.Column, e.Value, e.Reason))
		} else if e.Column != "" {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s %q: %s", e.Column, e.Value, e.Reason))
		} else {
			v.Reasons = append(v.Reasons, e.Reason)
		}
	}
	return v
}

func (s *Server) uploadView(w http.ResponseWriter, r *http.Request, sess *session) error {
	rec, err := s.loadUpload(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 0)
	const per = 50
	data := map[string]any{"U": rec, "S": rec.Summary, "Page": page}
	if rec.Status == uploadInvalid {
		rows, more, err := s.invalidPage(rec.ID, page, per)
		if err != nil {
			return err
		}
		views := make([]invalidView, len(rows))
		for i, row := range rows {
			views[i] = markCells(rec.Summary.Header, row)
		}
		data["Invalid"], data["More"], data["Prev"], data["Next"] = views, more, page-1, page+1
		data["From"], data["To"] = page*per+1, page*per+len(rows)
	}
	if rec.BatchID != "" {
		if m, err := s.l.Batch(r.Context(), rec.BatchID); err == nil {
			data["Batch"] = m
		}
	}
	data["CanSubmit"] = rec.Status == uploadValid && rec.Summary.Submittable() && sess.User.Can(RoleMaker)
	s.render(w, r, http.StatusOK, "uploaded", sess, data)
	return nil
}

func (s *Server) uploadErrors(w http.ResponseWriter, r *http.Request, sess *session) error {
	rec, err := s.loadUpload(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f, err := s.root.Open("uploads/" + rec.ID + ".errors.xlsx")
	if err != nil {
		return errorf(http.StatusNotFound, "This upload has no errors file: every row is valid.")
	}
	defer f.Close()
	return serveFile(w, r, f, strings.TrimSuffix(rec.Name, filepath.Ext(rec.Name))+"-errors.xlsx")
}

// submit records the upload's batch in the ledger as waiting for a
// checker. The stored file is validated again and must still be the rows
// that were shown (its batch id): what is submitted is what was seen.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, sess *session) error {
	rec, err := s.loadUpload(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if rec.Status != uploadValid || !rec.Summary.Submittable() {
		return errorf(http.StatusConflict, "This sheet cannot be submitted: fix what its page lists and upload it again.")
	}
	p, err := app.Load(app.SheetSpec{Path: s.uploadPath(rec.File), Options: sheet.Options{Defaults: s.defaults()}}, sess.User.Name)
	if err != nil {
		return err
	}
	if p.Validation.Invalid > 0 || p.Meta.BatchID != rec.BatchID {
		return errorf(http.StatusConflict, "The stored sheet no longer matches what was shown; upload it again.")
	}
	p.Meta.SourcePath, p.Meta.SourceSHA256 = rec.Name, rec.SHA256
	res, err := app.Submit(r.Context(), s.l, p, sess.User.Name, s.ctl)
	switch {
	case errors.Is(err, app.ErrDecided), errors.Is(err, app.ErrNotDecidable):
		http.Redirect(w, r, "/batches/"+rec.BatchID+"?done=resumed", http.StatusSeeOther)
		return nil
	case errors.Is(err, app.ErrOverLimit), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrDuplicateKey):
		return errorf(http.StatusConflict, "Not submitted: %v", err)
	case err != nil:
		return err
	}
	http.Redirect(w, r, "/batches/"+res.Meta.BatchID+"?done=submitted", http.StatusSeeOther)
	return nil
}

// serveFile sends a file as a download.
func serveFile(w http.ResponseWriter, r *http.Request, f *os.File, name string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ct := "text/csv; charset=utf-8"
	if strings.HasSuffix(name, ".xlsx") {
		ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", contentDisposition(name))
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return nil
}

// contentDisposition names a download, in ASCII and (RFC 5987) in UTF-8 for
// Chinese names.
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, urlPathEscape(name))
}

func urlPathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
