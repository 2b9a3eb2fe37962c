package report

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/results"
	"github.com/bulkrefund/bulkrefund/money"
)

// column is one logical column of an input file and the header texts that
// name it. Aliases are compared normalized (see norm).
type column struct {
	name     string
	aliases  []string
	required bool
	amount   bool // an amount: a `_fen`/`_cents` suffix means minor units
}

// norm folds a header cell: case, spaces, underscores and hyphens do not
// matter ("Refund No", "refund_no" and "refundNo" are one name).
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

// accountProvider: a provider's own name for its account column tells
// which provider a statement export without a provider column is from.
var accountProvider = map[string]string{
	"terminalsn": adapters.Upay, "终端号": adapters.Upay, "storeno": adapters.QuickPay, "门店编码": adapters.QuickPay, "merchantid": adapters.PayEase, "merchant": adapters.Nomad,
}

var statementColumns = []column{
	{name: "provider", aliases: []string{"provider", "渠道", "支付渠道", "channel"}},
	{name: "account", aliases: []string{"account", "terminal_sn", "store_no", "merchant", "merchantId", "merchant_id", "终端号", "门店编码", "商户号"}, required: true},
	{name: "order_no", aliases: []string{"order_no", "client_sn", "orderRef", "orderRequestId", "out_trade_no", "订单号", "商户订单号"}},
	{name: "provider_order_id", aliases: []string{"provider_order_id", "sn", "transactionId", "trade_no", "交易号", "支付单号"}},
	{name: "refund_no", aliases: []string{"refund_no", "refund_request_no", "refundOrderRef", "requestId", "out_refund_no", "退款单号", "退款请求号"}},
	{name: "provider_refund_id", aliases: []string{"provider_refund_id", "refundId", "refund_id", "refund_sn", "退款流水号", "退款交易号"}},
	{name: "type", aliases: []string{"type", "action", "类型", "交易类型"}},
	{name: "amount", aliases: []string{"amount", "refund_amount", "refundAmount", "退款金额", "金额"}, required: true, amount: true},
	{name: "currency", aliases: []string{"currency", "币种"}},
	{name: "status", aliases: []string{"status", "refund_status", "refundStatus", "状态", "退款状态"}, required: true},
	{name: "time", aliases: []string{"time", "refund_time", "finish_time", "successTime", "success_time", "退款时间", "完成时间"}},
}

var resultsColumns = []column{
	{name: "row", aliases: []string{"row"}},
	{name: "provider", aliases: []string{"provider"}, required: true},
	{name: "account", aliases: []string{"account"}, required: true},
	{name: "order_no", aliases: []string{"order_no"}, required: true},
	{name: "provider_order_id", aliases: []string{"provider_order_id"}},
	{name: "refund_no", aliases: []string{"refund_no"}, required: true},
	{name: "action", aliases: []string{"action"}},
	{name: "amount", aliases: []string{"amount"}, required: true, amount: true},
	{name: "currency", aliases: []string{"currency"}, required: true},
	{name: "state", aliases: []string{"state"}, required: true},
	{name: "provider_refund_id", aliases: []string{"provider_refund_id"}},
	{name: "provider_code", aliases: []string{"provider_code"}},
	{name: "provider_message", aliases: []string{"provider_message"}},
	{name: "attempts", aliases: []string{"attempts"}},
	{name: "first_attempt", aliases: []string{"first_attempt"}},
	{name: "last_attempt", aliases: []string{"last_attempt"}},
	{name: "error", aliases: []string{"error"}},
	// Not in the results format, read when present (a sheet-derived file).
	{name: "total_amount", aliases: []string{"total_amount"}, amount: true},
	{name: "payment_method", aliases: []string{"payment_method", "paymentMethod"}},
}

var ordersColumns = []column{
	{name: "provider", aliases: []string{"provider", "渠道", "支付渠道"}, required: true},
	{name: "account", aliases: []string{"account", "terminal_sn", "store_no", "merchant", "merchantId", "终端号", "门店编码", "商户号"}, required: true},
	{name: "order_no", aliases: []string{"order_no", "client_sn", "orderRef", "orderRequestId", "订单号", "商户订单号"}, required: true},
	{name: "provider_order_id", aliases: []string{"provider_order_id", "sn", "transactionId", "trade_no", "交易号"}},
	{name: "total_amount", aliases: []string{"total_amount", "totalAmount", "amount", "订单金额"}, required: true, amount: true},
	{name: "currency", aliases: []string{"currency", "币种"}},
	{name: "paid_at", aliases: []string{"paid_at", "支付时间"}},
	{name: "payment_method", aliases: []string{"payment_method", "paymentMethod", "支付方式"}},
}

// header maps logical columns to cell positions of one file.
type header struct {
	file  string
	cols  []column
	idx   []int    // per cols entry: cell index, -1 if absent
	text  []string // per cols entry: the header text as written
	minor []bool   // per cols entry: amount given in minor units
	// provider inferred from the account column's name, when the file has
	// no provider column.
	provider string
	row      int
}

// headerSearchRows is how far down a title block may push the header.
const headerSearchRows = 10

// readHeader finds the header row: the first of the first few rows that
// names every required column. Rows above it (a title such as
// "2026年11月退款明细") are skipped.
func readHeader(t *table, cols []column) (*header, error) {
	var best *header
	bestMissing := []string(nil)
	for n := 0; n < headerSearchRows; n++ {
		cells, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h, missing, err := matchHeader(t.path, cells, cols)
		if err != nil {
			return nil, &InputError{File: t.path, Row: t.row, Err: err}
		}
		h.row = t.row
		if len(missing) == 0 {
			return h, nil
		}
		if found := len(cols) - countAbsent(h); found > 0 && (best == nil || len(missing) < len(bestMissing)) {
			best, bestMissing = h, missing
		}
	}
	if best == nil {
		return nil, &InputError{File: t.path, Err: fmt.Errorf("%w in the first %d rows (expected columns such as %s)", ErrNoHeader, headerSearchRows, requiredNames(cols))}
	}
	return nil, &InputError{File: t.path, Row: best.row, Column: strings.Join(bestMissing, ", "), Err: ErrMissingColumn}
}

func countAbsent(h *header) int {
	n := 0
	for _, i := range h.idx {
		if i < 0 {
			n++
		}
	}
	return n
}

func requiredNames(cols []column) string {
	var s []string
	for _, c := range cols {
		if c.required {
			s = append(s, c.name)
		}
	}
	return strings.Join(s, ", ")
}

func matchHeader(file string, cells []string, cols []column) (*header, []string, error) {
	h := &header{file: file, cols: cols, idx: make([]int, len(cols)), text: make([]string, len(cols)), minor: make([]bool, len(cols))}
	for i := range h.idx {
		h.idx[i] = -1
	}
	for ci, cell := range cells {
		n := norm(cell)
		if n == "" {
			continue
		}
		for k, c := range cols {
			minor, ok := aliasMatch(n, c)
			if !ok {
				continue
			}
			if h.idx[k] >= 0 {
				return nil, nil, fmt.Errorf("%w: %q and %q both mean %s", ErrDuplicateColumn, h.text[k], cell, c.name)
			}
			h.idx[k], h.text[k], h.minor[k] = ci, strings.TrimSpace(cell), minor
			if c.name == "account" {
				h.provider = accountProvider[n]
			}
			break
		}
	}
	var missing []string
	for k, c := range cols {
		if c.required && h.idx[k] < 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) == 0 && h.col("provider") < 0 && h.provider == "" && hasColumn(cols, "provider") && !isRequired(cols, "provider") {
		missing = append(missing, "provider (or an account column named as the provider names it: terminal_sn, store_no, merchant, merchantId)")
	}
	return h, missing, nil
}

func hasColumn(cols []column, name string) bool {
	for _, c := range cols {
		if c.name == name {
			return true
		}
	}
	return false
}

func isRequired(cols []column, name string) bool {
	for _, c := range cols {
		if c.name == name {
			return c.required
		}
	}
	return false
}

func aliasMatch(n string, c column) (minor, ok bool) {
	for _, a := range c.aliases {
		a = norm(a)
		if n == a {
			return false, true
		}
		if c.amount && (n == a+"fen" || n == a+"cents" || n == a+"(分)" || n == a+"(fen)") {
			return true, true
		}
	}
	return false, false
}

func (h *header) col(name string) int {
	for k, c := range h.cols {
		if c.name == name {
			return k
		}
	}
	return -1
}

// cell returns the trimmed cell of a logical column, "" when absent.
func (h *header) cell(cells []string, k int) string {
	if k < 0 || h.idx[k] < 0 || h.idx[k] >= len(cells) {
		return ""
	}
	// A results file guards text against formula injection; undo it so ids
	// read back as written (results.Unguard is the exact inverse).
	return results.Unguard(strings.TrimSpace(cells[h.idx[k]]))
}

// errAt builds the error for one cell.
func (h *header) errAt(row, k int, value string, err error) error {
	col := ""
	if k >= 0 {
		col = h.text[k]
		if col == "" {
			col = h.cols[k].name
		}
	}
	return &InputError{File: h.file, Row: row, Column: col, Value: value, Err: err}
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
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

// timeLayouts are the forms accepted for times; zone-less forms are read
// in the reconciliation's location.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02 15:04:05", time.DateOnly}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
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
	t, err := openTable(path)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	h, err := readHeader(t, statementColumns)
	if err != nil {
		return nil, "", err
	}
	var (
		cProv, cAcct, cOrder, cPOID = h.col("provider"), h.col("account"), h.col("order_no"), h.col("provider_order_id")
		cRef, cPRID, cType, cAmt    = h.col("refund_no"), h.col("provider_refund_id"), h.col("type"), h.col("amount")
		cCur, cStatus, cTime        = h.col("currency"), h.col("status"), h.col("time")
	)
	out := make([]Theirs, 0, t.estimateRows(100))
	for {
		cells, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		if blank(cells) {
			continue
		}
		row := t.row
		var r TheirRecord
		r.Source, r.Row = source, int32(row)
		if h.idx[cProv] >= 0 {
			v := h.cell(cells, cProv)
			p, err := parseProvider(v)
			if err != nil {
				return nil, "", h.errAt(row, cProv, v, err)
			}
			r.Provider = p
		} else {
			r.Provider = h.provider
		}
		r.Account = h.cell(cells, cAcct)
		if r.Account == "" {
			return nil, "", h.errAt(row, cAcct, "", fmt.Errorf("%w: account is empty", ErrBadValue))
		}
		for _, f := range []struct {
			k   int
			dst *string
		}{{cOrder, &r.OrderNo}, {cPOID, &r.ProviderOrderID}, {cRef, &r.RefundNo}, {cPRID, &r.ProviderRefundID}} {
			v := h.cell(cells, f.k)
			if *f.dst, err = idText(v); err != nil {
				return nil, "", h.errAt(row, f.k, v, err)
			}
		}
		v := h.cell(cells, cType)
		if r.Action, err = parseAction(v); err != nil {
			return nil, "", h.errAt(row, cType, v, err)
		}
		if r.Action == adapters.ActionRefund && r.RefundNo == "" && r.OrderNo == "" && r.ProviderOrderID == "" {
			return nil, "", h.errAt(row, cRef, "", fmt.Errorf("%w: a refund needs a refund number or an order number", ErrBadValue))
		}
		if r.Action == adapters.ActionRevoke && r.OrderNo == "" {
			return nil, "", h.errAt(row, cOrder, "", fmt.Errorf("%w: a revoke is matched by its order number, which is empty", ErrBadValue))
		}
		v = h.cell(cells, cCur)
		if v == "" {
			r.Currency = money.CNY
		} else if r.Currency, err = money.ParseCurrency(v); err != nil {
			return nil, "", h.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		v = h.cell(cells, cAmt)
		if r.Amount, err = parseAmount(v, r.Currency, h.minor[cAmt]); err != nil {
			if errors.Is(err, errAmountNegative) {
				err = errStatementNegative
			}
			return nil, "", h.errAt(row, cAmt, v, fmt.Errorf("%w: %v", ErrAmount, err))
		}
		v = h.cell(cells, cStatus)
		if r.Status, err = parseStatus(v); err != nil {
			return nil, "", h.errAt(row, cStatus, v, err)
		}
		v = h.cell(cells, cTime)
		if r.Time, err = parseTime(v, loc); err != nil {
			return nil, "", h.errAt(row, cTime, v, err)
		}
		out = append(out, NewTheirs(r))
	}
	sum, err := t.digest()
	return out, sum, err
}

// ReadResults reads a results file (`bulkrefund run --results`) as our side.
func ReadResults(path string, source int32, loc *time.Location) ([]Ours, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := openTable(path)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	h, err := readHeader(t, resultsColumns)
	if err != nil {
		return nil, "", err
	}
	var (
		cRow, cProv, cAcct, cOrder, cPOID = h.col("row"), h.col("provider"), h.col("account"), h.col("order_no"), h.col("provider_order_id")
		cRef, cAction, cAmt, cCur, cState = h.col("refund_no"), h.col("action"), h.col("amount"), h.col("currency"), h.col("state")
		cPRID, cCode, cMsg, cAtt          = h.col("provider_refund_id"), h.col("provider_code"), h.col("provider_message"), h.col("attempts")
		cFirst, cLast, cErr, cTotal       = h.col("first_attempt"), h.col("last_attempt"), h.col("error"), h.col("total_amount")
		cPM                               = h.col("payment_method")
	)
	out := make([]Ours, 0, t.estimateRows(135))
	for {
		cells, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		if blank(cells) {
			continue
		}
		row := t.row
		var o OurRecord
		o.Source = source
		o.Row = int32(row)
		if v := h.cell(cells, cRow); v != "" {
			// The refund sheet's row number, which is what operators search by.
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, "", h.errAt(row, cRow, v, fmt.Errorf("%w: not a row number", ErrBadValue))
			}
			o.Row = int32(n)
		}
		v := h.cell(cells, cProv)
		if o.Provider, err = parseProvider(v); err != nil {
			return nil, "", h.errAt(row, cProv, v, err)
		}
		o.Account = h.cell(cells, cAcct)
		if o.Account == "" {
			return nil, "", h.errAt(row, cAcct, "", fmt.Errorf("%w: account is empty", ErrBadValue))
		}
		o.OrderNo, o.ProviderOrderID, o.RefundNo = h.cell(cells, cOrder), h.cell(cells, cPOID), h.cell(cells, cRef)
		v = h.cell(cells, cAction)
		if o.Action, err = parseAction(v); err != nil {
			return nil, "", h.errAt(row, cAction, v, err)
		}
		v = h.cell(cells, cCur)
		if o.Currency, err = money.ParseCurrency(v); err != nil {
			return nil, "", h.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		v = h.cell(cells, cAmt)
		if o.Amount, err = parseAmount(v, o.Currency, h.minor[cAmt]); err != nil {
			return nil, "", h.errAt(row, cAmt, v, fmt.Errorf("%w: %v", ErrAmount, err))
		}
		if v = h.cell(cells, cTotal); v != "" {
			if o.Total, err = parseAmount(v, o.Currency, h.minor[cTotal]); err != nil {
				return nil, "", h.errAt(row, cTotal, v, fmt.Errorf("%w: %v", ErrAmount, err))
			}
		}
		v = h.cell(cells, cState)
		if o.State, err = ParseState(strings.ToLower(v)); err != nil {
			return nil, "", h.errAt(row, cState, v, err)
		}
		o.ProviderRefundID, o.ProviderCode, o.ProviderMessage, o.Error = h.cell(cells, cPRID), h.cell(cells, cCode), h.cell(cells, cMsg), h.cell(cells, cErr)
		o.PaymentMethod = h.cell(cells, cPM)
		if v = h.cell(cells, cAtt); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return nil, "", h.errAt(row, cAtt, v, fmt.Errorf("%w: not a count", ErrBadValue))
			}
			o.Attempts = int32(n)
		}
		for _, f := range []struct {
			k   int
			dst *time.Time
		}{{cFirst, &o.FirstAttempt}, {cLast, &o.LastAttempt}} {
			v := h.cell(cells, f.k)
			if *f.dst, err = parseTime(v, loc); err != nil {
				return nil, "", h.errAt(row, f.k, v, err)
			}
		}
		out = append(out, NewOurs(o))
	}
	sum, err := t.digest()
	return out, sum, err
}

// ReadOrders reads the orders ledger. A paid_at of `now-DURATION` is read
// relative to now, as the sandbox does when it loads the same file.
func ReadOrders(path string, now time.Time, loc *time.Location) ([]Order, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := openTable(path)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	h, err := readHeader(t, ordersColumns)
	if err != nil {
		return nil, "", err
	}
	var (
		cProv, cAcct, cOrder, cPOID = h.col("provider"), h.col("account"), h.col("order_no"), h.col("provider_order_id")
		cTotal, cCur, cPaid, cPM    = h.col("total_amount"), h.col("currency"), h.col("paid_at"), h.col("payment_method")
	)
	in := interner{}
	var out []Order
	for {
		cells, err := t.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		if blank(cells) {
			continue
		}
		row := t.row
		var o Order
		v := h.cell(cells, cProv)
		if o.Provider, err = parseProvider(v); err != nil {
			return nil, "", h.errAt(row, cProv, v, err)
		}
		o.Account = in.get(h.cell(cells, cAcct))
		o.OrderNo, o.ProviderOrderID, o.PaymentMethod = h.cell(cells, cOrder), h.cell(cells, cPOID), h.cell(cells, cPM)
		if o.OrderNo == "" {
			return nil, "", h.errAt(row, cOrder, "", fmt.Errorf("%w: order number is empty", ErrBadValue))
		}
		v = h.cell(cells, cCur)
		if v == "" {
			o.Currency = money.CNY
		} else if o.Currency, err = money.ParseCurrency(v); err != nil {
			return nil, "", h.errAt(row, cCur, v, fmt.Errorf("%w: %v", ErrBadValue, err))
		}
		v = h.cell(cells, cTotal)
		if o.Total, err = parseAmount(v, o.Currency, h.minor[cTotal]); err != nil {
			return nil, "", h.errAt(row, cTotal, v, fmt.Errorf("%w: %v", ErrAmount, err))
		}
		v = h.cell(cells, cPaid)
		if rel, ok := strings.CutPrefix(v, "now-"); ok {
			d, err := time.ParseDuration(rel)
			if err != nil {
				return nil, "", h.errAt(row, cPaid, v, fmt.Errorf("%w: not a duration after now-", ErrBadValue))
			}
			o.PaidAt = now.Add(-d)
		} else if o.PaidAt, err = parseTime(v, loc); err != nil {
			return nil, "", h.errAt(row, cPaid, v, err)
		}
		out = append(out, o)
	}
	sum, err := t.digest()
	return out, sum, err
}
