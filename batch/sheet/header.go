package sheet

import (
	"fmt"
	"strings"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
	"github.com/bulkrefund/bulkrefund/internal/clip"
)

// field is a column of the input sheet as DESIGN.md (Input sheet) defines it.
type field int

const (
	fProvider field = iota
	fAccount
	fOrderNo
	fProviderOrderID
	fRefundNo
	fRefundAmount
	fTotalAmount
	fCurrency
	fAction
	fOperator
	fReason
	fPaymentMethod
	fNotifyURL
	numFields
)

var fieldNames = [numFields]string{
	"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount",
	"total_amount", "currency", "action", "operator", "reason", "payment_method", "notify_url",
}

// required are the columns a sheet must have; the rest are required per
// provider and checked per row.
var required = []field{fProvider, fAccount, fOrderNo, fRefundNo, fRefundAmount}

// genericAliases are the header names that belong to no one provider; each
// provider's own names come from its descriptor (adapters/registry). All
// are matched after normalizeHeader (lower case; spaces, '_', '-' and '.'
// dropped; full-width forms folded), so "Refund Amount", "refund_amount"
// and "refundAmount" are one name.
var genericAliases = [numFields][]string{
	fProvider:        {"provider", "channel", "渠道", "支付渠道", "通道"},
	fAccount:         {"account", "商户号"},
	fOrderNo:         {"order_no", "订单号", "商户订单号", "原订单号"},
	fProviderOrderID: {"provider_order_id", "trade_no", "交易号", "流水号", "渠道订单号"},
	fRefundNo:        {"refund_no", "退款单号", "退款流水号"},
	fRefundAmount:    {"refund_amount", "退款金额"},
	fTotalAmount:     {"total_amount", "order_amount", "订单金额", "订单总额", "交易金额"},
	fCurrency:        {"currency", "币种", "货币"},
	fAction:          {"action", "type", "类型", "退款类型", "操作"},
	fOperator:        {"operator", "操作员", "经办人"},
	fReason:          {"reason", "退款原因", "备注"},
	fPaymentMethod:   {"payment_method", "pay_method", "支付方式"},
	fNotifyURL:       {"notify_url", "通知地址", "回调地址"},
}

// aliases maps a normalized header name to its field; fieldAliases lists
// each field's names as written, generic ones first, then each provider's
// in registry order (the docs' column table).
var (
	aliases      = map[string]field{}
	fieldAliases [numFields][]string
)

func init() {
	for f, names := range genericAliases {
		addAliases(field(f), "", names)
	}
	for _, d := range registry.All() {
		for _, name := range adapters.Fields {
			if names := d.Columns[name]; len(names) > 0 {
				addAliases(fieldByName[name], d.Name, names)
			}
		}
	}
}

// addAliases records names for f. A name already meaning another field is
// a programming error in a descriptor or above: the program stops at start.
func addAliases(f field, provider string, names []string) {
	for _, n := range names {
		k := normalizeHeader(n)
		if g, ok := aliases[k]; ok {
			if g != f {
				panic(fmt.Sprintf("sheet: column name %q of %s means %s and %s", n, provider, fieldNames[g], fieldNames[f]))
			}
			continue
		}
		aliases[k] = f
		fieldAliases[f] = append(fieldAliases[f], n)
	}
}

// fieldByName maps the descriptors' field names to fields.
var fieldByName = func() map[string]field {
	m := make(map[string]field, numFields)
	for f, n := range fieldNames {
		m[n] = field(f)
	}
	return m
}()

// normalizeHeader folds a header cell or a provider or action value for
// matching, as the registry folds provider names.
func normalizeHeader(s string) string { return registry.Fold(s) }

// foldRune maps full-width ASCII variants to ASCII and odd spaces to ' '.
func foldRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == 0x3000 || r == 0x00A0:
		return ' '
	}
	return r
}

// unitSuffix splits a normalized header into its base name and whether the
// column is in minor units: "refundamountfen", "退款金额(分)" → minor;
// "退款金额(元)", "refundamountyuan" → major.
func unitSuffix(n string) (base string, minor bool) {
	for _, s := range []string{"fen", "cents", "(分)", "分"} {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n[:len(n)-len(s)], true
		}
	}
	for _, s := range []string{"yuan", "(元)", "元"} {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n[:len(n)-len(s)], false
		}
	}
	return n, false
}

// columns maps each field to its cell index in the sheet.
type columns struct {
	idx   [numFields]int
	name  [numFields]string // as the user wrote it
	minor [numFields]bool
	width int // number of header cells, trailing blanks dropped
}

// matchHeader maps a candidate header row. unknown lists the non-blank cells
// that matched no field.
func matchHeader(cells []string) (c columns, found int, unknown []string, err error) {
	for i := range c.idx {
		c.idx[i] = -1
	}
	for i, cell := range cells {
		t := strings.TrimSpace(cell)
		if t == "" {
			continue
		}
		c.width = i + 1
		n := normalizeHeader(t)
		f, ok := aliases[n]
		minor := false
		if !ok {
			var base string
			base, minor = unitSuffix(n)
			f, ok = aliases[base]
			if ok && f != fRefundAmount && f != fTotalAmount {
				ok, minor = false, false
			}
		}
		if !ok {
			unknown = append(unknown, t)
			continue
		}
		if c.idx[f] >= 0 {
			if err == nil {
				err = fmt.Errorf("%w: %s and %s are both %s", ErrDuplicateCol, clip.Quote(c.name[f]), clip.Quote(t), fieldNames[f])
			}
			continue
		}
		c.idx[f], c.name[f], c.minor[f] = i, t, minor
		found++
	}
	return c, found, unknown, err
}

// isHeader: a row is the header when it names at least three fields, two of
// them required ones. A title row ("2026年11月退款明细") names none.
func isHeader(c columns, found int) bool {
	req := 0
	for _, f := range required {
		if c.idx[f] >= 0 {
			req++
		}
	}
	return found >= 3 && req >= 2
}

func (c columns) missing() []string {
	var m []string
	for _, f := range required {
		if c.idx[f] < 0 {
			m = append(m, fieldNames[f])
		}
	}
	return m
}
