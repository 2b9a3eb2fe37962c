// Command ledgerbench measures planning a batch against a large ledger:
// with N earlier refunds in it, how long Plan takes for a new batch and
// how much memory the process needs (docs: BENCHMARKS.md).
//
//	go run ./internal/cmd/ledgerbench -ledger /tmp/ledger10m.db -populate 10000000
//	go run ./internal/cmd/ledgerbench -ledger /tmp/ledger10m.db -plan 100000
//
// Populate writes the earlier refunds straight into the ledger's tables
// (a fixture, in big transactions); plan goes through store.Plan exactly as
// `bulkrefund run` does, in a process of its own so that its peak RSS is
// planning's alone.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/store"
	"github.com/bulkrefund/bulkrefund/money"
)

func main() {
	path := flag.String("ledger", "/tmp/ledgerbench.db", "ledger file")
	populate := flag.Int("populate", 0, "write this many earlier refunds (in batches of 100,000)")
	plan := flag.Int("plan", 0, "plan a new batch of this many refunds and report time and peak RSS")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the plan to `FILE`")
	flag.Parse()
	ctx := context.Background()
	l, err := store.OpenSQLite(*path, store.SQLiteOptions{Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer func() { l.Close() }()
	if *populate > 0 {
		l.Close()
		// A fixture: written without fsyncs or a journal, which a real
		// ledger never is.
		db, err := sql.Open("sqlite", *path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		err = fill(ctx, db, *populate)
		db.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *plan > 0 {
		var have int64
		l.DB().QueryRow(`SELECT count(*) FROM refunds`).Scan(&have)
		items := make([]batch.Item, *plan)
		stamp := time.Now().UnixNano()
		for i := range items {
			items[i] = item(i, fmt.Sprintf("NEW%d-%07d", stamp, i))
		}
		m := store.Meta{BatchID: batch.Identity(items), SourcePath: "bench.csv", SourceSHA256: "-", Operator: "bench", Created: time.Now(), Items: len(items)}
		if *prof != "" {
			f, _ := os.Create(*prof)
			pprof.StartCPUProfile(f)
		}
		start := time.Now()
		res, err := l.Plan(ctx, m, items)
		el := time.Since(start)
		if *prof != "" {
			pprof.StopCPUProfile()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Printf("ledger with %d refunds: planned %d new refunds in %.2f s; peak RSS %.0f MB\n",
			have, res.New, el.Seconds(), float64(ru.Maxrss)/1024)
	}
}

func item(i int, refundNo string) batch.Item {
	provs := []string{adapters.Upay, adapters.QuickPay, adapters.Nomad, adapters.PayEase}
	p := provs[i%4]
	return batch.Item{Row: i + 2, Refund: adapters.Refund{Provider: p, Account: "acct-" + p, OrderNo: fmt.Sprintf("O%09d", i),
		RefundNo: refundNo, Amount: int64(100 + i%5000), Total: 100000, Currency: money.CNY, Action: adapters.ActionRefund, Operator: "bench"}}
}

// fill writes n refunds in batches of 100,000, each batch as the ledger
// holds one: refunds, their batch and its items.
func fill(ctx context.Context, db *sql.DB, n int) error {
	const per = 100000
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	for done := 0; done < n; done += per {
		k := min(per, n-done)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ins, err := tx.Prepare(`INSERT INTO refunds (rkey, provider, account, order_no, provider_order_id, refund_no,
			amount, total, currency, action, operator, reason, payment_method, notify_url, state, version, attempts,
			first_batch, planned_at, updated_at) VALUES (?,?,?,?,'',?,?,?,?,?,?,'','','','succeeded',2,1,?,?,?) RETURNING id`)
		if err != nil {
			return err
		}
		link, err := tx.Prepare(`INSERT INTO batch_items (batch_id, seq, row, refund_id) VALUES (?,?,?,?)`)
		if err != nil {
			return err
		}
		bid := fmt.Sprintf("fill-%09d", done)
		for i := 0; i < k; i++ {
			it := item(done+i, fmt.Sprintf("OLD-%09d", done+i))
			var id int64
			if err := ins.QueryRow(it.Key(), it.Provider, it.Account, it.OrderNo, it.RefundNo, it.Amount, it.Total,
				string(it.Currency), string(it.Action), it.Operator, bid, now, now).Scan(&id); err != nil {
				return err
			}
			if _, err := link.Exec(bid, i, it.Row, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`INSERT INTO batches (id, source_path, source_sha256, operator, host, tool_version, created, items, status)
			VALUES (?,'fill.csv','-','bench','bench','bench',?,?,'done')`, bid, now, k); err != nil {
			return err
		}
		ins.Close()
		link.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "\r%d refunds", done+k)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}
