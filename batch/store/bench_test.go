package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// BenchmarkCheckpoint64 is the store's side of one refund (MarkSubmitting,
// then Finish) from 64 concurrent workers, as the runner uses it: the SQLite
// store (WAL, synchronous=FULL, group commit) against the in-memory one.
// ns/op is per refund; "µs/submit" is how long a worker waits for its
// submitting mark to be durable.
func BenchmarkCheckpoint64(b *testing.B) {
	for _, kind := range []string{"memory", "sqlite"} {
		b.Run(kind, func(b *testing.B) {
			its := items(b.N)
			var s store.Store = store.NewMemory()
			if kind == "sqlite" {
				sq, err := store.OpenSQLite(filepath.Join(b.TempDir(), "b.db"))
				if err != nil {
					b.Fatal(err)
				}
				s = sq
			}
			ctx := context.Background()
			if err := s.Init(ctx, meta(its), its); err != nil {
				b.Fatal(err)
			}
			work := make(chan int)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var waited time.Duration
			b.ResetTimer()
			for w := 0; w < 64; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var my time.Duration
					for i := range work {
						k := its[i].Key()
						t0 := time.Now()
						if err := s.MarkSubmitting(ctx, k, t0); err != nil {
							b.Error(err)
							return
						}
						my += time.Since(t0)
						if err := s.Finish(ctx, k, store.Succeeded, adapters.Outcome{ProviderRefundID: "P"}, ""); err != nil {
							b.Error(err)
							return
						}
					}
					mu.Lock()
					waited += my
					mu.Unlock()
				}()
			}
			for i := range its {
				work <- i
			}
			close(work)
			wg.Wait()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(waited.Microseconds())/float64(b.N), "µs/submit")
		})
	}
}
