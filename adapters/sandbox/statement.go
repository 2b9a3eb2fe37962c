package sandbox

import (
	"encoding/csv"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/money"
)

// StatementHeader is the header of the statement file (working agreement).
var StatementHeader = []string{"provider", "account", "order_no", "provider_order_id", "refund_no", "provider_refund_id", "type", "amount", "currency", "status", "time"}

// WriteStatement writes every refund the provider side holds as CSV in the
// statement format: amounts in major units, time RFC3339 UTC (completion
// time, or acceptance time while pending), sorted by provider, account,
// order number, time, refund number, provider refund id — the same ledger
// always gives the same bytes.
func (s *Sandbox) WriteStatement(w io.Writer) error {
	l := s.Ledger()
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		for _, c := range [][2]string{{a.Provider, b.Provider}, {a.Account, b.Account}, {a.OrderNo, b.OrderNo}} {
			if c[0] != c[1] {
				return c[0] < c[1]
			}
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.RefundNo != b.RefundNo {
			return a.RefundNo < b.RefundNo
		}
		return strings.Compare(a.ProviderRefundID, b.ProviderRefundID) < 0
	})
	cw := csv.NewWriter(w)
	if err := cw.Write(StatementHeader); err != nil {
		return err
	}
	for _, r := range l {
		cw.Write([]string{r.Provider, r.Account, r.OrderNo, r.ProviderOrderID, r.RefundNo, r.ProviderRefundID,
			string(r.Type), money.Format(r.Amount, r.Currency), string(r.Currency), string(r.Status),
			r.Time.UTC().Format(time.RFC3339)})
	}
	cw.Flush()
	return cw.Error()
}
