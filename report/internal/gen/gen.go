// Package gen writes large, deterministic reconciliation inputs — a results
// file, a statement and an orders ledger in the shared formats, and the same
// refunds as a ledger — with a known number of refunds in each category,
// for totals tests and benchmarks.
package gen

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

// Expected counts the rows each category must get from the written files.
type Expected struct {
	Ours, Theirs, Orders                                                                     int
	Matched, AmountMismatch, StatusMismatch, Missing, Unexpected, Duplicate, Pending, Failed int
}

var accounts = [4][2]string{
	{"upay", "100000330000000001"}, {"quickpay", "SH001"}, {"nomad", "wechat.sh_smk"}, {"payease", "890000593"},
}

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// order is everything generated for order i: one refund of ours and/or
// the provider's record(s) of it.
type order struct {
	acct                             [2]string
	orderNo, poid, refundNo, prid    string
	amount, total, theirAmount       int64
	at                               time.Time
	ourState, theirStatus, code, msg string
	haveOurs, haveTheirs, dup        bool
}

// Out of every 1000 orders: 970 match, 5 differ in amount, 3 differ in
// status, 3 are missing at the provider, 3 are unexpected at the provider,
// 2 are paid twice, 5 are pending, 9 failed on both sides.
func orderAt(i int, e *Expected) order {
	o := order{acct: accounts[i%4], orderNo: "G" + pad(i), poid: "T" + pad(i), refundNo: "GR" + pad(i) + "-1", prid: "PR" + pad(i),
		amount: int64(100 + (i*7919)%500000), at: base.Add(time.Duration(i) * time.Second),
		ourState: "succeeded", theirStatus: "succeeded", code: "SUCCESS", haveOurs: true, haveTheirs: true}
	o.total, o.theirAmount = o.amount*2, o.amount
	switch k := i % 1000; {
	case k < 970:
		e.Matched++
	case k < 975:
		o.theirAmount = o.amount + 1
		e.AmountMismatch++
	case k < 978:
		o.ourState, o.code, o.msg = "failed", "SYSTEM_ERROR", "refund rejected"
		e.StatusMismatch++
	case k < 981:
		o.haveTheirs = false
		e.Missing++
	case k < 984:
		o.haveOurs = false
		e.Unexpected++
	case k < 986:
		o.dup = true
		e.Matched++
		e.Duplicate++
	case k < 991:
		o.ourState, o.theirStatus, o.code = "pending", "pending", "PROCESSING"
		e.Pending++
	default:
		o.ourState, o.theirStatus, o.code, o.msg = "failed", "failed", "REFUND_AMOUNT_EXCEEDED", "refund amount exceeded"
		e.Failed++
	}
	return o
}

// Write writes results.csv, statement.csv and orders.csv for n orders of
// one refund each into dir (see orderAt for the categories).
func Write(dir string, n int) (Expected, error) {
	var e Expected
	files := map[string]*bufio.Writer{}
	var closers []*os.File
	for _, name := range []string{"results.csv", "statement.csv", "orders.csv"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return e, err
		}
		closers = append(closers, f)
		files[name] = bufio.NewWriterSize(f, 1<<20)
	}
	res, st, ord := files["results.csv"], files["statement.csv"], files["orders.csv"]
	res.WriteString("row,provider,account,order_no,provider_order_id,refund_no,action,amount,currency,state,provider_refund_id,provider_code,provider_message,attempts,first_attempt,last_attempt,error\n")
	st.WriteString("provider,account,order_no,provider_order_id,refund_no,provider_refund_id,type,amount,currency,status,time\n")
	ord.WriteString("provider,account,order_no,provider_order_id,total_amount,currency,paid_at,payment_method\n")
	var b []byte
	amt := func(b []byte, v int64) []byte {
		b = strconv.AppendInt(b, v/100, 10)
		b = append(b, '.')
		c := v % 100
		b = append(b, byte('0'+c/10), byte('0'+c%10))
		return b
	}
	for i := 0; i < n; i++ {
		o := orderAt(i, &e)
		ts := o.at.Format(time.RFC3339)
		ts1 := o.at.Add(time.Second).Format(time.RFC3339)

		// orders ledger
		b = append(b[:0], o.acct[0]...)
		b = append(b, ',')
		b = append(b, o.acct[1]...)
		b = append(b, ',')
		b = append(b, o.orderNo...)
		b = append(b, ',')
		b = append(b, o.poid...)
		b = append(b, ',')
		b = amt(b, o.total)
		b = append(b, ",CNY,"...)
		b = append(b, ts...)
		b = append(b, ",wechatpay\n"...)
		ord.Write(b)
		e.Orders++

		if o.haveOurs {
			b = strconv.AppendInt(b[:0], int64(i+2), 10)
			b = append(b, ',')
			b = append(b, o.acct[0]...)
			b = append(b, ',')
			b = append(b, o.acct[1]...)
			b = append(b, ',')
			b = append(b, o.orderNo...)
			b = append(b, ',')
			b = append(b, o.poid...)
			b = append(b, ',')
			b = append(b, o.refundNo...)
			b = append(b, ",refund,"...)
			b = amt(b, o.amount)
			b = append(b, ",CNY,"...)
			b = append(b, o.ourState...)
			b = append(b, ',')
			if o.ourState != "failed" {
				b = append(b, o.prid...)
			}
			b = append(b, ',')
			b = append(b, o.code...)
			b = append(b, ',')
			b = append(b, o.msg...)
			b = append(b, ",1,"...)
			b = append(b, ts...)
			b = append(b, ',')
			b = append(b, ts1...)
			b = append(b, ",\n"...)
			res.Write(b)
			e.Ours++
		}
		if o.haveTheirs {
			rn := o.refundNo
			if !o.haveOurs {
				rn = "GX" + pad(i) + "-1"
			}
			for c := 0; c < 1+btoi(o.dup); c++ {
				b = append(b[:0], o.acct[0]...)
				b = append(b, ',')
				b = append(b, o.acct[1]...)
				b = append(b, ',')
				b = append(b, o.orderNo...)
				b = append(b, ',')
				b = append(b, o.poid...)
				b = append(b, ',')
				b = append(b, rn...)
				b = append(b, ',')
				b = append(b, o.prid...)
				if c > 0 {
					b = append(b, "-2"...)
				}
				b = append(b, ",refund,"...)
				b = amt(b, o.theirAmount)
				b = append(b, ",CNY,"...)
				b = append(b, o.theirStatus...)
				b = append(b, ',')
				b = append(b, ts1...)
				b = append(b, '\n')
				st.Write(b)
				e.Theirs++
			}
		}
	}
	var err error
	for _, w := range []*bufio.Writer{res, st, ord} {
		if e := w.Flush(); err == nil {
			err = e
		}
	}
	for _, f := range closers {
		if e := f.Close(); err == nil {
			err = e
		}
	}
	return e, err
}

// WriteLedger writes our refunds of the same n orders as Write into a new
// ledger at path: one batch, every refund moved through the ledger's state
// machine to the state the results file gives it (sent at its
// first_attempt, the provider's answer recorded). Reconciling the ledger
// against statement.csv gives the same rows as reconciling results.csv.
func WriteLedger(ctx context.Context, path string, n int) error {
	l, err := store.OpenSQLite(path, store.SQLiteOptions{Create: true})
	if err != nil {
		return err
	}
	defer l.Close()
	var e Expected
	items := make([]batch.Item, 0, n)
	idx := make([]int, 0, n)
	for i := 0; i < n; i++ {
		o := orderAt(i, &e)
		if !o.haveOurs {
			continue
		}
		items = append(items, batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: o.acct[0], Account: o.acct[1], OrderNo: o.orderNo,
			ProviderOrderID: o.poid, RefundNo: o.refundNo, Amount: o.amount, Currency: money.CNY, Action: adapters.ActionRefund}})
		idx = append(idx, i)
	}
	id := batch.Identity(items)
	if _, err := l.Plan(ctx, store.Meta{BatchID: id, SourcePath: "reconbench", SourceSHA256: id, Operator: "reconbench",
		Created: base, Items: len(items)}, items); err != nil {
		return err
	}
	st, err := l.Run(ctx, id)
	if err != nil {
		return err
	}
	// A send waits for its commit; many at once share one (group commit).
	var wg sync.WaitGroup
	jobs := make(chan int)
	errs := make(chan error, 1)
	for range 64 {
		wg.Go(func() {
			for k := range jobs {
				it := items[k]
				o := orderAt(idx[k], &Expected{})
				oc := adapters.Outcome{Status: adapters.Status(o.ourState), Code: o.code, Message: o.msg, Amount: o.amount,
					Currency: money.CNY, Time: o.at.Add(time.Second)}
				if o.ourState != "failed" {
					oc.ProviderRefundID = o.prid
				}
				err := st.Apply(ctx, it.Key(), 0, store.Planned, store.EvSend, store.Change{At: o.at})
				if err == nil {
					err = st.Apply(ctx, it.Key(), 1, store.Submitting, store.Event(o.ourState), store.Change{Outcome: oc})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for k := range items {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	if err := st.Close(); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	return l.Close()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pad(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}
