package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/batch"
)

// Memory is a Store that keeps everything in memory and survives nothing.
// It exists for tests and to measure what durability costs.
type Memory struct {
	mu    sync.Mutex
	meta  *Meta
	recs  []*Record // sheet order
	byKey map[string]*Record
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{byKey: map[string]*Record{}} }

func (m *Memory) Init(ctx context.Context, meta Meta, items []batch.Item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.initLocked(meta, items)
}

func (m *Memory) initLocked(meta Meta, items []batch.Item) error {
	if m.meta != nil {
		if m.meta.BatchID != meta.BatchID {
			return &MismatchError{Stored: *m.meta, Given: meta}
		}
		return nil
	}
	byKey := make(map[string]*Record, len(items))
	recs := make([]*Record, 0, len(items))
	for _, it := range items {
		k := it.Key()
		if prev, dup := byKey[k]; dup {
			return fmt.Errorf("%w: rows %d and %d", ErrDuplicateKey, prev.Row, it.Row)
		}
		r := &Record{Item: it, State: Planned}
		byKey[k] = r
		recs = append(recs, r)
	}
	meta.Items = len(items)
	m.meta, m.recs, m.byKey = &meta, recs, byKey
	return nil
}

func (m *Memory) Merge(ctx context.Context, meta Meta, items []batch.Item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil {
		return m.initLocked(meta, items)
	}
	plan, err := mergePlan(m.recs, items)
	if err != nil {
		return err
	}
	byKey := make(map[string]*Record, len(plan))
	for _, r := range plan {
		byKey[r.Key()] = r
	}
	meta.Items = len(plan)
	m.meta, m.recs, m.byKey = &meta, plan, byKey
	return nil
}

// mergePlan computes the records after a Merge: the new sheet's items in its
// order (keeping known items' checkpoints), then items already sent that the
// new sheet no longer has, in their old order.
func mergePlan(old []*Record, items []batch.Item) ([]*Record, error) {
	oldBy := make(map[string]*Record, len(old))
	for _, r := range old {
		oldBy[r.Key()] = r
	}
	seen := make(map[string]bool, len(items))
	out := make([]*Record, 0, len(items))
	for _, it := range items {
		k := it.Key()
		if seen[k] {
			return nil, fmt.Errorf("%w: row %d", ErrDuplicateKey, it.Row)
		}
		seen[k] = true
		if r, ok := oldBy[k]; ok {
			c := *r
			if !sameContent(r.Item, it) {
				if r.State != Planned {
					return nil, fmt.Errorf("%w: row %d (refund %s) is %s but its content differs from the earlier sheet", ErrItemChanged, it.Row, it.RefundNo, r.State)
				}
				c = Record{Item: it, State: Planned}
			}
			c.Row = it.Row
			out = append(out, &c)
			continue
		}
		out = append(out, &Record{Item: it, State: Planned})
	}
	for _, r := range old {
		if !seen[r.Key()] && r.State != Planned {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (m *Memory) Meta(ctx context.Context) (Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil {
		return Meta{}, ErrNoBatch
	}
	return *m.meta, nil
}

func (m *Memory) Each(ctx context.Context, fn func(Record) error) error {
	m.mu.Lock()
	snap := make([]Record, len(m.recs))
	for i, r := range m.recs {
		snap[i] = *r
	}
	m.mu.Unlock()
	for _, r := range snap {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) MarkSubmitting(ctx context.Context, key string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byKey[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, key)
	}
	markSubmitting(r, at)
	return nil
}

func markSubmitting(r *Record, at time.Time) {
	at = at.UTC()
	r.State = Submitting
	r.Attempts++
	if r.FirstAttempt.IsZero() {
		r.FirstAttempt = at
	}
	r.LastAttempt = at
}

func (m *Memory) Release(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byKey[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, key)
	}
	if r.State != Submitting {
		return nil
	}
	r.State = Planned
	r.Attempts--
	if r.Attempts <= 0 {
		r.Attempts = 0
		r.FirstAttempt, r.LastAttempt = time.Time{}, time.Time{}
	}
	return nil
}

func (m *Memory) Finish(ctx context.Context, key string, s State, o adapters.Outcome, errText string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byKey[key]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, key)
	}
	applyOutcome(r, s, o, errText)
	return nil
}

func (m *Memory) Counts(ctx context.Context) ([]Count, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type k struct {
		p, a, c string
		s       State
	}
	agg := map[k]*Count{}
	for _, r := range m.recs {
		kk := k{r.Provider, r.Account, string(r.Currency), r.State}
		c := agg[kk]
		if c == nil {
			c = &Count{Provider: r.Provider, Account: r.Account, Currency: r.Currency, State: r.State}
			agg[kk] = c
		}
		c.Items++
		c.Amount += r.Amount
	}
	out := make([]Count, 0, len(agg))
	for _, c := range agg {
		out = append(out, *c)
	}
	SortCounts(out)
	return out, nil
}

// SortCounts orders counts by provider, account, currency, then state in
// States order, as both implementations return them.
func SortCounts(cs []Count) {
	rank := func(s State) int {
		for i, v := range States {
			if v == s {
				return i
			}
		}
		return len(States)
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Currency != b.Currency {
			return a.Currency < b.Currency
		}
		return rank(a.State) < rank(b.State)
	})
}

func (m *Memory) Close() error { return nil }
