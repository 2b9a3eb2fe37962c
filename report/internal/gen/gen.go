// Package gen writes large, deterministic reconciliation inputs — a results
// file, a statement and an orders ledger in the shared formats — with a known
// number of refunds in each category, for totals tests and benchmarks.
package gen

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Expected counts the rows each category must get from the written files.
type Expected struct {
	Ours, Theirs, Orders                                                                     int
	Matched, AmountMismatch, StatusMismatch, Missing, Unexpected, Duplicate, Pending, Failed int
}

var accounts = [4][2]string{
	{"upay", "100000330000000001"}, {"quickpay", "SH001"}, {"nomad", "wechat.sh_smk"}, {"payease", "890000593"},
}

// Write writes results.csv, statement.csv and orders.csv for n orders of
// one refund each into dir. Out of every 1000 orders: 970 match, 5 differ
// in amount, 3 differ in status, 3 are missing at the provider, 3 are
// unexpected at the provider, 2 are paid twice, 5 are pending, 9 failed on
// both sides.
func Write(dir string, n int) (Expected, error) {
	var e Expected
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
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
		acct := accounts[i%4]
		orderNo := "G" + pad(i)
		poid := "T" + pad(i)
		refundNo := "GR" + pad(i) + "-1"
		prid := "PR" + pad(i)
		amount := int64(100 + (i*7919)%500000)
		total := amount * 2
		at := base.Add(time.Duration(i) * time.Second)
		ts := at.Format(time.RFC3339)
		ts1 := at.Add(time.Second).Format(time.RFC3339)

		// orders ledger
		b = append(b[:0], acct[0]...)
		b = append(b, ',')
		b = append(b, acct[1]...)
		b = append(b, ',')
		b = append(b, orderNo...)
		b = append(b, ',')
		b = append(b, poid...)
		b = append(b, ',')
		b = amt(b, total)
		b = append(b, ",CNY,"...)
		b = append(b, ts...)
		b = append(b, ",wechatpay\n"...)
		ord.Write(b)
		e.Orders++

		ourState, theirStatus, theirAmount := "succeeded", "succeeded", amount
		haveOurs, haveTheirs, dup := true, true, false
		code, msg := "SUCCESS", ""
		switch k := i % 1000; {
		case k < 970:
			e.Matched++
		case k < 975:
			theirAmount = amount + 1
			e.AmountMismatch++
		case k < 978:
			ourState, code, msg = "failed", "SYSTEM_ERROR", "refund rejected"
			e.StatusMismatch++
		case k < 981:
			haveTheirs = false
			e.Missing++
		case k < 984:
			haveOurs = false
			e.Unexpected++
		case k < 986:
			dup = true
			e.Matched++
			e.Duplicate++
		case k < 991:
			ourState, theirStatus, code = "pending", "pending", "PROCESSING"
			e.Pending++
		default:
			ourState, theirStatus, code, msg = "failed", "failed", "REFUND_AMOUNT_EXCEEDED", "refund amount exceeded"
			e.Failed++
		}
		if haveOurs {
			b = strconv.AppendInt(b[:0], int64(i+2), 10)
			b = append(b, ',')
			b = append(b, acct[0]...)
			b = append(b, ',')
			b = append(b, acct[1]...)
			b = append(b, ',')
			b = append(b, orderNo...)
			b = append(b, ',')
			b = append(b, poid...)
			b = append(b, ',')
			b = append(b, refundNo...)
			b = append(b, ",refund,"...)
			b = amt(b, amount)
			b = append(b, ",CNY,"...)
			b = append(b, ourState...)
			b = append(b, ',')
			if ourState != "failed" {
				b = append(b, prid...)
			}
			b = append(b, ',')
			b = append(b, code...)
			b = append(b, ',')
			b = append(b, msg...)
			b = append(b, ",1,"...)
			b = append(b, ts...)
			b = append(b, ',')
			b = append(b, ts1...)
			b = append(b, ",\n"...)
			res.Write(b)
			e.Ours++
		}
		if haveTheirs {
			rn := refundNo
			if !haveOurs {
				rn = "GX" + pad(i) + "-1"
			}
			for c := 0; c < 1+btoi(dup); c++ {
				b = append(b[:0], acct[0]...)
				b = append(b, ',')
				b = append(b, acct[1]...)
				b = append(b, ',')
				b = append(b, orderNo...)
				b = append(b, ',')
				b = append(b, poid...)
				b = append(b, ',')
				b = append(b, rn...)
				b = append(b, ',')
				b = append(b, prid...)
				if c > 0 {
					b = append(b, "-2"...)
				}
				b = append(b, ",refund,"...)
				b = amt(b, theirAmount)
				b = append(b, ",CNY,"...)
				b = append(b, theirStatus...)
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
