package worker

import (
	"context"
	"fmt"

	"github.com/bulkrefund/bulkrefund/batch/store"
)

// HandOver gives a batch recorded in the ledger to the workers: a planned
// batch is approved by actor (who confirmed the plan), with an audit entry;
// an approved, running or done batch is left as it is, and so is one
// submitted for a checker's approval: the workers take it once a checker
// approves it. It returns the batch's status before.
func HandOver(ctx context.Context, l *store.SQL, batchID, actor string) (string, error) {
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return "", err
	}
	switch m.Status {
	case store.BatchApproved, store.BatchRunning, store.BatchDone, store.BatchSubmitted:
		return m.Status, nil
	case store.BatchRejected:
		return m.Status, fmt.Errorf("batch %.16s was rejected: the workers do not take it", batchID)
	}
	err = l.SetBatchStatus(ctx, m.BatchID, store.BatchApproved, store.Audit{Actor: actor, Action: "approved",
		Detail: "handed to the workers (run --via-workers)"})
	return m.Status, err
}

// Progress is where a batch the workers run stands.
type Progress struct {
	Items  int
	States map[store.State]int
	Held   int // refunds a worker holds now
}

// Final counts the refunds that reached a final state.
func (p Progress) Final() int { return p.States[store.Succeeded] + p.States[store.Failed] }

// Idle reports whether the workers are done with the batch for now:
// nothing planned or in flight, and no refund held by a worker. What is
// left rests (pending, unknown, blocked) and is claimed again later.
func (p Progress) Idle() bool {
	return p.States[store.Planned]+p.States[store.Submitting] == 0 && p.Held == 0
}

// BatchProgress reads a batch's counts and live claims.
func BatchProgress(ctx context.Context, l *store.SQL, batchID string) (Progress, error) {
	p := Progress{States: map[store.State]int{}}
	m, err := l.Batch(ctx, batchID)
	if err != nil {
		return p, err
	}
	v, err := l.View(ctx, m.BatchID)
	if err != nil {
		return p, err
	}
	counts, err := v.Counts(ctx)
	if err != nil {
		return p, err
	}
	for _, c := range counts {
		p.Items += c.Items
		p.States[c.State] += c.Items
	}
	p.Held, err = l.LiveClaims(ctx, m.BatchID)
	return p, err
}
