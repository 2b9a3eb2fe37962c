package runner

import (
	"sync/atomic"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// Counter holds a run's progress as atomic counters, apart from any printing:
// printers read a Snapshot on their own schedule.
type Counter struct {
	Total       atomic.Int64 // items in the batch
	AlreadyDone atomic.Int64 // final before this run started
	Settled     atomic.Int64 // items this run brought to rest (any state)
	Succeeded   atomic.Int64
	Failed      atomic.Int64
	Pending     atomic.Int64
	Unknown     atomic.Int64
	Blocked     atomic.Int64
	Calls       atomic.Int64 // provider calls (refunds + lookups)
	Sends       atomic.Int64 // refund requests sent
	Retries     atomic.Int64 // calls that ended in an error and were retried or given up

	interrupted atomic.Bool
}

func (c *Counter) start(total, done int) {
	c.Total.Store(int64(total))
	c.AlreadyDone.Store(int64(done))
}

func (c *Counter) count(s store.State) {
	switch s {
	case store.Succeeded:
		c.Succeeded.Add(1)
	case store.Failed:
		c.Failed.Add(1)
	case store.Pending:
		c.Pending.Add(1)
	case store.Unknown:
		c.Unknown.Add(1)
	case store.Blocked:
		c.Blocked.Add(1)
	}
}

// Snapshot is a consistent-enough copy of a Counter for printing.
type Snapshot struct {
	Total, AlreadyDone, Settled         int64
	Succeeded, Failed, Pending, Unknown int64
	Blocked                             int64
	Calls, Sends, Retries               int64
}

// Done is how many items are at rest: final before the run or settled in it.
func (s Snapshot) Done() int64 { return s.AlreadyDone + s.Settled }

// Snapshot reads the counters.
func (c *Counter) Snapshot() Snapshot {
	return Snapshot{
		Total: c.Total.Load(), AlreadyDone: c.AlreadyDone.Load(), Settled: c.Settled.Load(),
		Succeeded: c.Succeeded.Load(), Failed: c.Failed.Load(), Pending: c.Pending.Load(), Unknown: c.Unknown.Load(), Blocked: c.Blocked.Load(),
		Calls: c.Calls.Load(), Sends: c.Sends.Load(), Retries: c.Retries.Load(),
	}
}
