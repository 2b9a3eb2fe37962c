package report

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/results"
	bsheet "github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/money"
)

// The columns of each input, as the shared table reader (batch/sheet)
// matches them: header texts are compared folded (case, spaces, '_', '-',
// '.' and full-width forms do not count), and an amount column's header
// may carry a unit suffix ("amount_fen", "退款金额(分)") for minor units.
var statementColumns = []bsheet.Column{
	{Name: "provider", Aliases: []string{"provider", "渠道", "支付渠道", "channel"}},
	{Name: "account", Aliases: []string{"account", "terminal_sn", "store_no", "merchant", "merchantId", "merchant_id", "终端号", "门店编码", "商户号"}, Required: true},
	{Name: "order_no", Aliases: []string{"order_no", "client_sn", "orderRef", "orderRequestId", "out_trade_no", "订单号", "商户订单号"}},
	{Name: "provider_order_id", Aliases: []string{"provider_order_id", "sn", "transactionId", "trade_no", "交易号", "支付单号"}},
	{Name: "refund_no", Aliases: []string{"refund_no", "refund_request_no", "refundOrderRef", "requestId", "out_refund_no", "退款单号", "退款请求号"}},
	{Name: "provider_refund_id", Aliases: []string{"provider_refund_id", "refundId", "refund_id", "refund_sn", "退款流水号", "退款交易号"}},
	{Name: "type", Aliases: []string{"type", "action", "类型", "交易类型"}},
	{Name: "amount", Aliases: []string{"amount", "refund_amount", "refundAmount", "退款金额", "金额"}, Required: true, Amount: true},
	{Name: "currency", Aliases: []string{"currency", "币种"}},
	{Name: "status", Aliases: []string{"status", "refund_status", "refundStatus", "状态", "退款状态"}, Required: true},
	{Name: "time", Aliases: []string{"time", "refund_time", "finish_time", "successTime", "success_time", "退款时间", "完成时间"}},
}

var resultsColumns = []bsheet.Column{
	{Name: "row", Aliases: []string{"row"}},
	{Name: "provider", Aliases: []string{"provider"}, Required: true},
	{Name: "account", Aliases: []string{"account"}, Required: true},
	{Name: "order_no", Aliases: []string{"order_no"}, Required: true},
	{Name: "provider_order_id", Aliases: []string{"provider_order_id"}},
	{Name: "refund_no", Aliases: []string{"refund_no"}, Required: true},
	{Name: "action", Aliases: []string{"action"}},
	{Name: "amount", Aliases: []string{"amount"}, Required: true, Amount: true},
	{Name: "currency", Aliases: []string{"currency"}, Required: true},
	{Name: "state", Aliases: []string{"state"}, Required: true},
	{Name: "provider_refund_id", Aliases: []string{"provider_refund_id"}},
	{Name: "provider_code", Aliases: []string{"provider_code"}},
	{Name: "provider_message", Aliases: []string{"provider_message"}},
	{Name: "attempts", Aliases: []string{"attempts"}},
	{Name: "first_attempt", Aliases: []string{"first_attempt"}},
	{Name: "last_attempt", Aliases: []string{"last_attempt"}},
	{Name: "error", Aliases: []string{"error"}},
	// Not in the results format, read when present (a sheet-derived file).
	{Name: "total_amount", Aliases: []string{"total_amount"}, Amount: true},
	{Name: "payment_method", Aliases: []string{"payment_method", "paymentMethod"}},
}

var ordersColumns = []bsheet.Column{
	{Name: "provider", Aliases: []string{"provider", "渠道", "支付渠道"}, Required: true},
	{Name: "account", Aliases: []string{"account", "terminal_sn", "store_no", "merchant", "merchantId", "终端号", "门店编码", "商户号"}, Required: true},
	{Name: "order_no", Aliases: []string{"order_no", "client_sn", "orderRef", "orderRequestId", "订单号", "商户订单号"}, Required: true},
	{Name: "provider_order_id", Aliases: []string{"provider_order_id", "sn", "transactionId", "trade_no", "交易号"}},
	{Name: "total_amount", Aliases: []string{"total_amount", "totalAmount", "amount", "订单金额"}, Required: true, Amount: true},
	{Name: "currency", Aliases: []string{"currency", "币种"}},
	{Name: "paid_at", Aliases: []string{"paid_at", "支付时间"}},
	{Name: "payment_method", Aliases: []string{"payment_method", "paymentMethod", "支付方式"}},
}

// accountProvider: a provider's own name for its account column tells
// which provider a statement export without a provider column is from.
// Keys are as bsheet.NormalizeHeader folds them.
var accountProvider = map[string]string{
	"terminalsn": adapters.Upay, "终端号": adapters.Upay, "storeno": adapters.QuickPay, "门店编码": adapters.QuickPay, "merchantid": adapters.PayEase, "merchant": adapters.Nomad,
}

// headerSearchRows is how far down a title block may push the header.
const headerSearchRows = 10

// table is one input file being read: the shared reader and where the
// columns are.
type table struct {
	t    *bsheet.Table
	h    *bsheet.Header
	file string
	cols []bsheet.Column
	// provider inferred from the account column's name, when the file has
	// no provider column.
	provider string
}

// openTable opens path ("-" for standard input) with the reader refund
// sheets are read with, and finds its header: the first of the first few
// rows that names every required column (rows above it, such as a title
// "2026年11月退款明细", are skipped). The file's SHA-256 is computed over
// the very bytes the table is read from.
func openTable(path string, cols []bsheet.Column, statement bool) (*table, error) {
	st, err := bsheet.OpenTable(path, bsheet.TableOptions{Hash: true})
	if err != nil {
		var le *bsheet.LimitError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &InputError{File: path, Err: err}
	}
	t := &table{t: st, file: path, cols: cols}
	var extra func(*bsheet.Header) []string
	if statement {
		// Without a provider column, the account column's name must say
		// whose export this is.
		extra = func(h *bsheet.Header) []string {
			if h.Has(t.col("provider")) {
				return nil
			}
			if p := accountProvider[bsheet.NormalizeHeader(h.Text[t.col("account")])]; p != "" {
				return nil
			}
			return []string{"provider (or an account column named as the provider names it: terminal_sn, store_no, merchant, merchantId)"}
		}
	}
	h, err := st.FindHeader(cols, headerSearchRows, extra)
	if err != nil {
		st.Close()
		var he *bsheet.HeaderError
		switch {
		case !errors.As(err, &he):
			return nil, t.fileErr(err)
		case errors.Is(err, bsheet.ErrMissingColumn):
			return nil, &InputError{File: path, Row: he.Row, Column: strings.Join(he.Missing, ", "), Err: ErrMissingColumn}
		case errors.Is(err, bsheet.ErrDuplicateCol):
			return nil, &InputError{File: path, Row: he.Row, Err: fmt.Errorf("%w: %s", ErrDuplicateColumn, he.Detail)}
		}
		return nil, &InputError{File: path, Err: fmt.Errorf("%w: %s", ErrNoHeader, he.Detail)}
	}
	t.h = h
	if !h.Has(t.col("provider")) {
		t.provider = accountProvider[bsheet.NormalizeHeader(h.Text[t.col("account")])]
	}
	return t, nil
}

// fileErr passes a limit error as it is (it names the file and the limit)
// and names the file in any other.
func (t *table) fileErr(err error) error {
	var le *bsheet.LimitError
	if errors.As(err, &le) {
		return err
	}
	return &InputError{File: t.file, Err: err}
}

// rows calls fn for each non-blank row below the header, then returns the
// file's SHA-256.
func (t *table) rows(fn func(row int, cells []string) error) (string, error) {
	for {
		row, cells, err := t.t.Next()
		if err == io.EOF {
			break
		}
		var re *bsheet.RowError
		if errors.As(err, &re) {
			return "", &InputError{File: t.file, Row: row, Err: fmt.Errorf("%w: %v", ErrBadValue, re.Err)}
		}
		if err != nil {
			return "", t.fileErr(err)
		}
		if blank(cells) {
			continue
		}
		if err := fn(row, cells); err != nil {
			return "", err
		}
	}
	sum, err := t.t.SHA256()
	if err != nil {
		return "", t.fileErr(err)
	}
	return sum, nil
}

func (t *table) Close() error { return t.t.Close() }

// estimateRows guesses a file's row count from its size, so that a
// million-row input is read into a slice of the right size instead of
// one grown by doubling (which holds two copies at the moment it grows).
// lineLen is a typical line length of the format; the guess is capped so
// that a huge file with long lines does not reserve absurd memory.
func (t *table) estimateRows(lineLen int64) int {
	n := t.t.Size()
	if n <= 0 || strings.HasPrefix(t.t.Format(), "XLSX") {
		return 0
	}
	return int(min(n/lineLen+16, 1<<24))
}

// col is the index of the named column in t.cols, -1 if not listed.
func (t *table) col(name string) int {
	for k, c := range t.cols {
		if c.Name == name {
			return k
		}
	}
	return -1
}

// cell returns the trimmed cell of a column, "" when absent.
func (t *table) cell(cells []string, k int) string {
	if k < 0 {
		return ""
	}
	// A results file guards text against formula injection; undo it so ids
	// read back as written (results.Unguard is the exact inverse).
	return results.Unguard(t.h.Cell(cells, k))
}

// numeric reports whether column k's cell was stored as a number.
func (t *table) numeric(k int) bool { return k >= 0 && t.t.Numeric(t.h.Index[k]) }

// errAt builds the error for one cell.
func (t *table) errAt(row, k int, value string, err error) error {
	col := ""
	if k >= 0 {
		col = t.h.Text[k]
		if col == "" {
			col = t.cols[k].Name
		}
	}
	return &InputError{File: t.file, Row: row, Column: col, Value: value, Err: err}
}

// id reads an id cell, refusing what cannot be matched: a number cell cut
// to 15 digits, control or invisible characters, and (with exponent, for
// files a spreadsheet may have touched) an id in exponent form.
func (t *table) id(cells []string, row, k int, exponent bool) (string, error) {
	v := t.cell(cells, k)
	if v == "" {
		return "", nil
	}
	if err := bsheet.CheckID(v, t.numeric(k)); err != nil {
		return "", t.errAt(row, k, v, fmt.Errorf("%w: %w", ErrBadValue, err))
	}
	if exponent {
		if _, err := idText(v); err != nil {
			return "", t.errAt(row, k, v, err)
		}
	}
	return v, nil
}

// errNegative is the reason for a negative amount in our own files.
var errNegative = errors.New("negative amount")

// A sign is not guessed away: an export that writes refunds as negative
// may also hold payments as positive rows, which must not become refunds.
var errStatementNegative = errors.New("negative amount: a statement gives each refund's amount as a positive number " +
	"(its type column says refund or revoke); if this export writes refunds as negative, " +
	"keep only its refund rows, remove the minus sign from this column, and run reconcile again")

// amount reads an amount cell with money.ParseCell, the parser refund
// sheets use: exact decimal text, or a spreadsheet's number cell recovered
// from its stored text only when that is unambiguous; more decimals than
// the currency has is an error, never a rounding. Zero is an amount here
// (a statement may list a refund that moved nothing); a negative amount is
// refused with negErr.
func (t *table) amount(cells []string, row, k int, cur money.Currency, negErr error) (int64, error) {
	v := t.cell(cells, k)
	a, err := money.ParseCell(v, cur, t.h.Minor[k], t.numeric(k))
	if errors.Is(err, money.ErrNotPositive) {
		if strings.Contains(v, "-") {
			err = negErr
		} else {
			a, err = 0, nil
		}
	}
	if err != nil {
		return 0, t.errAt(row, k, v, fmt.Errorf("%w: %w", ErrAmount, err))
	}
	return a, nil
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// norm folds a status value: case, spaces, underscores and hyphens do not
// matter ("Refund Success", "REFUND_SUCCESS").
func norm(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "\uFEFF")
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '_', '-', '\t', '　':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// idText checks an id cell: an id Excel turned into a float
// ("4.20000114820211E+27") has lost digits and cannot be matched.
func idText(s string) (string, error) {
	if strings.ContainsAny(s, "Ee") && strings.Contains(s, "+") {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return "", fmt.Errorf("%w: precision lost (the id was stored as a number; format the column as text)", ErrBadValue)
		}
	}
	return s, nil
}

// hashFile returns the SHA-256 of a file, for inputs read by other code
// (a run's SQLite store).
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// major renders minor units as major-unit decimal text for CSV and JSON.
func major(minor int64, cur money.Currency) string { return money.Format(minor, cur) }

// timeLayouts are the forms accepted for times; zone-less forms are read
// in the reconciliation's location.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02 15:04:05", time.DateOnly}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	// A date-time cell of a workbook is read as its stored serial number
	// (days since 1899-12-30), a wall-clock time in loc.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 1 && f < 2958466 && !strings.ContainsAny(s, "eE") {
		if t, err := excelize.ExcelDateToTime(f, false); err == nil {
			t = t.Round(time.Millisecond)
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc), nil
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: not a time (want RFC3339, e.g. 2026-11-20T10:30:00+08:00)", ErrBadValue)
}

func parseProvider(s string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(s))
	for _, k := range adapters.Providers {
		if p == k {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: unknown provider (want upay, quickpay, nomad or payease)", ErrBadValue)
}

func parseAction(s string) (adapters.Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "refund", "退款":
		return adapters.ActionRefund, nil
	case "revoke", "cancel", "撤单", "撤销":
		return adapters.ActionRevoke, nil
	}
	return "", fmt.Errorf("%w: want refund or revoke", ErrBadValue)
}

// parseStatus maps the normalized statuses of the statement format and the
// raw ones of the four providers' exports.
func parseStatus(s string) (Status, error) {
	switch norm(s) {
	case "succeeded", "success", "successed", "refunded", "refundsuccess", "cancelsuccess", "成功", "退款成功":
		return StatusSucceeded, nil
	case "failed", "fail", "close", "closed", "refundfailed", "refundfail", "cancelerror", "失败", "退款失败":
		return StatusFailed, nil
	case "pending", "processing", "inprogress", "refundinprogress", "cancelinprogress", "abnormal", "create", "paying", "处理中", "退款中":
		return StatusPending, nil
	}
	return 0, fmt.Errorf("%w: unknown status (want succeeded, failed or pending)", ErrBadValue)
}

// interner keeps one copy of the few distinct accounts of the orders
// ledger, so a million orders do not hold a million copies. (Ours and Theirs
// need none: NewOurs and NewTheirs copy every field into one string.)
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	s = strings.Clone(s)
	in[s] = s
	return s
}

// ReadStatement reads a statement file (CSV or XLSX) into provider records.
// source is the index the records carry in Source. Times without a zone are
// read in loc (nil: UTC).
func ReadStatement(path string, source int32, loc *time.Location) ([]Theirs, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := openTable(path, statementColumns, true)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	var (
		cProv, cAcct, cOrder, cPOID = t.col("provider"), t.col("account"), t.col("order_no"), t.col("provider_order_id")
		cRef, cPRID, cType, cAmt    = t.col("refund_no"), t.col("provider_refund_id"), t.col("type"), t.col("amount")
		cCur, cStatus, cTime        = t.col("currency"), t.col("status"), t.col("time")
	)
	out := make([]Theirs, 0, t.estimateRows(100))
	sum, err := t.rows(func(row int, cells []string) error {
		var r TheirRecord
		var err error
		r.Source, r.Row = source, int32(row)
		if t.h.Has(cProv) {
			v := t.cell(cells, cProv)
			if r.Provider, err = parseProvider(v); err != nil {
				return t.errAt(row, cProv, v, err)
			}
		} else {
			r.Provider = t.provider
		}
		if r.Account, err = t.id(cells, row, cAcct, true); err != nil {
			return err
		}
		if r.Account == "" {
			return t.errAt(row, cAcct, "", fmt.Errorf("%w: account is empty", ErrBadValue))
		}
		for _, f := range []struct {
			k   int
			dst *string
		}{{cOrder, &r.OrderNo}, {cPOID, &r.ProviderOrderID}, {cRef, &r.RefundNo}, {cPRID, &r.ProviderRefundID}} {
			if *f.dst, err = t.id(cells, row, f.k, true); err != nil {
				return err
			}
		}
		v := t.cell(cells, cType)
		if r.Action, err = parseAction(v); err != nil {
			return t.errAt(row, cType, v, err)
		}
		if r.Action == adapters.ActionRefund && r.RefundNo == "" && r.OrderNo == "" && r.ProviderOrderID == "" {
			return t.errAt(row, cRef, "", fmt.Errorf("%w: a refund needs a refund number or an order number", ErrBadValue))
		}
		if r.Action == adapters.ActionRevoke && r.OrderNo == "" {
			return t.errAt(row, cOrder, "", fmt.Errorf("%w: a revoke is matched by its order number, which is empty", ErrBadValue))
		}
		v = t.cell(cells, cCur)
		if v == "" {
			r.Currency = money.CNY
		} else if r.Currency, err = money.ParseCurrency(v); err != nil {
			return t.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		if r.Amount, err = t.amount(cells, row, cAmt, r.Currency, errStatementNegative); err != nil {
			return err
		}
		v = t.cell(cells, cStatus)
		if r.Status, err = parseStatus(v); err != nil {
			return t.errAt(row, cStatus, v, err)
		}
		v = t.cell(cells, cTime)
		if r.Time, err = parseTime(v, loc); err != nil {
			return t.errAt(row, cTime, v, err)
		}
		out = append(out, NewTheirs(r))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, sum, nil
}

// ReadResults reads a results file (`bulkrefund run --results`) as our side.
func ReadResults(path string, source int32, loc *time.Location) ([]Ours, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := openTable(path, resultsColumns, false)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	var (
		cRow, cProv, cAcct, cOrder, cPOID = t.col("row"), t.col("provider"), t.col("account"), t.col("order_no"), t.col("provider_order_id")
		cRef, cAction, cAmt, cCur, cState = t.col("refund_no"), t.col("action"), t.col("amount"), t.col("currency"), t.col("state")
		cPRID, cCode, cMsg, cAtt          = t.col("provider_refund_id"), t.col("provider_code"), t.col("provider_message"), t.col("attempts")
		cFirst, cLast, cErr, cTotal       = t.col("first_attempt"), t.col("last_attempt"), t.col("error"), t.col("total_amount")
		cPM                               = t.col("payment_method")
	)
	out := make([]Ours, 0, t.estimateRows(135))
	sum, err := t.rows(func(row int, cells []string) error {
		var o OurRecord
		var err error
		o.Source = source
		o.Row = int32(row)
		if v := t.cell(cells, cRow); v != "" {
			// The refund sheet's row number, which is what operators search by.
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return t.errAt(row, cRow, v, fmt.Errorf("%w: not a row number", ErrBadValue))
			}
			o.Row = int32(n)
		}
		v := t.cell(cells, cProv)
		if o.Provider, err = parseProvider(v); err != nil {
			return t.errAt(row, cProv, v, err)
		}
		if o.Account, err = t.id(cells, row, cAcct, false); err != nil {
			return err
		}
		if o.Account == "" {
			return t.errAt(row, cAcct, "", fmt.Errorf("%w: account is empty", ErrBadValue))
		}
		for _, f := range []struct {
			k   int
			dst *string
		}{{cOrder, &o.OrderNo}, {cPOID, &o.ProviderOrderID}, {cRef, &o.RefundNo}, {cPRID, &o.ProviderRefundID}} {
			if *f.dst, err = t.id(cells, row, f.k, false); err != nil {
				return err
			}
		}
		v = t.cell(cells, cAction)
		if o.Action, err = parseAction(v); err != nil {
			return t.errAt(row, cAction, v, err)
		}
		v = t.cell(cells, cCur)
		if o.Currency, err = money.ParseCurrency(v); err != nil {
			return t.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		if o.Amount, err = t.amount(cells, row, cAmt, o.Currency, errNegative); err != nil {
			return err
		}
		if t.cell(cells, cTotal) != "" {
			if o.Total, err = t.amount(cells, row, cTotal, o.Currency, errNegative); err != nil {
				return err
			}
		}
		v = t.cell(cells, cState)
		if o.State, err = ParseState(strings.ToLower(v)); err != nil {
			return t.errAt(row, cState, v, err)
		}
		o.ProviderCode, o.ProviderMessage, o.Error = t.cell(cells, cCode), t.cell(cells, cMsg), t.cell(cells, cErr)
		o.PaymentMethod = t.cell(cells, cPM)
		if v = t.cell(cells, cAtt); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return t.errAt(row, cAtt, v, fmt.Errorf("%w: not a count", ErrBadValue))
			}
			o.Attempts = int32(n)
		}
		for _, f := range []struct {
			k   int
			dst *time.Time
		}{{cFirst, &o.FirstAttempt}, {cLast, &o.LastAttempt}} {
			v := t.cell(cells, f.k)
			// A results workbook keeps attempt times as date-time cells in
			// UTC (batch/results): a serial number there is UTC.
			if *f.dst, err = parseTime(v, time.UTC); err != nil {
				return t.errAt(row, f.k, v, err)
			}
		}
		out = append(out, NewOurs(o))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, sum, nil
}

// ReadOrders reads the orders ledger. A paid_at of `now-DURATION` is read
// relative to now, as the sandbox does when it loads the same file.
func ReadOrders(path string, now time.Time, loc *time.Location) ([]Order, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := openTable(path, ordersColumns, false)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	var (
		cProv, cAcct, cOrder, cPOID = t.col("provider"), t.col("account"), t.col("order_no"), t.col("provider_order_id")
		cTotal, cCur, cPaid, cPM    = t.col("total_amount"), t.col("currency"), t.col("paid_at"), t.col("payment_method")
	)
	in := interner{}
	var out []Order
	sum, err := t.rows(func(row int, cells []string) error {
		var o Order
		var err error
		v := t.cell(cells, cProv)
		if o.Provider, err = parseProvider(v); err != nil {
			return t.errAt(row, cProv, v, err)
		}
		acct, err := t.id(cells, row, cAcct, true)
		if err != nil {
			return err
		}
		o.Account = in.get(acct)
		if o.OrderNo, err = t.id(cells, row, cOrder, true); err != nil {
			return err
		}
		if o.ProviderOrderID, err = t.id(cells, row, cPOID, true); err != nil {
			return err
		}
		o.PaymentMethod = t.cell(cells, cPM)
		if o.OrderNo == "" {
			return t.errAt(row, cOrder, "", fmt.Errorf("%w: order number is empty", ErrBadValue))
		}
		v = t.cell(cells, cCur)
		if v == "" {
			o.Currency = money.CNY
		} else if o.Currency, err = money.ParseCurrency(v); err != nil {
			return t.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		if o.Total, err = t.amount(cells, row, cTotal, o.Currency, errNegative); err != nil {
			return err
		}
		v = t.cell(cells, cPaid)
		if rel, ok := strings.CutPrefix(v, "now-"); ok {
			d, err := time.ParseDuration(rel)
			if err != nil {
				return t.errAt(row, cPaid, v, fmt.Errorf("%w: not a duration after now-", ErrBadValue))
			}
			o.PaidAt = now.Add(-d)
		} else if o.PaidAt, err = parseTime(v, loc); err != nil {
			return t.errAt(row, cPaid, v, err)
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, sum, nil
}
