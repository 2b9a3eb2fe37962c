package sheet

import (
	"sync"

	"github.com/bulkrefund/bulkrefund/batch"
)

// rowResult is one data row after the per-row checks.
type rowResult struct {
	row   int
	cells []string
	blank bool
	errs  []*RowError // nil when the row passed the per-row checks
	item  batch.Item
	// For the cross-row rules: the amount cells as written (for messages)
	// and the 128-bit keys of the refund number and of the order.
	amountText, totalText string
	refundKey, orderKey   key
}

// pipeline reads rows and applies the per-row rules on its own goroutine,
// in batches, while Validate applies the cross-row rules to the previous
// batch: parsing (encoding/csv, or excelize's XML decoding) and checking use
// two cores instead of one. Order is kept: one producer, one consumer,
// batches in sequence.
type pipeline struct {
	src  source
	v    *validator
	ch   chan []rowResult
	done chan struct{}
	wg   sync.WaitGroup
	err  error // what ended the producer; read only after ch is closed
	cur  []rowResult
	i    int
}

const (
	pipelineBatch = 512
	batchCells    = 16 << 10 // at most Limits.Columns: one row always fits
	batchBytes    = 4 << 20
)

func startPipeline(src source, v *validator) *pipeline {
	p := &pipeline{src: src, v: v, ch: make(chan []rowResult, 4), done: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *pipeline) run() {
	defer p.wg.Done()
	defer close(p.ch)
	ragged := p.src.ragged()
	var (
		batch []rowResult
		arena []string // the batch's cells, so that a batch is a few allocations
		bytes int      // the batch's cell text
	)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case p.ch <- batch:
		case <-p.done:
			return false
		}
		batch, arena, bytes = nil, nil, 0
		return true
	}
	for {
		row, cells, rowErr, err := p.src.next()
		if err != nil {
			p.err = err
			flush()
			return
		}
		n := 0
		for _, c := range cells {
			n += len(c)
		}
		// A batch ends at pipelineBatch rows, or sooner when its cells
		// would pass batchCells or batchBytes: with wide or long rows, the
		// batches in flight (the channel's and the two in hand) stay a few
		// dozen MB at most.
		if len(batch) == pipelineBatch || len(batch) > 0 && (len(arena)+len(cells) > cap(arena) || bytes+n > batchBytes) {
			if !flush() {
				return
			}
		}
		if batch == nil {
			batch = make([]rowResult, 0, pipelineBatch)
			// The CSV reader reuses its record slice: cells are copied
			// out before the next read.
			arena = make([]string, 0, max(len(cells), min(pipelineBatch*(len(cells)+1), batchCells)))
		}
		start := len(arena)
		arena = append(arena, cells...)
		bytes += n
		batch = append(batch, rowResult{row: row, cells: arena[start:len(arena):len(arena)]})
		r := &batch[len(batch)-1]
		p.v.check(r, rowErr, ragged)
		if rowErr == nil {
			p.v.checkIDs(r, p.src.numeric())
		}
	}
}

// next returns the next row, or the error that ended reading (io.EOF at the end).
func (p *pipeline) next() (*rowResult, error) {
	for p.i >= len(p.cur) {
		b, ok := <-p.ch
		if !ok {
			return nil, p.err
		}
		p.cur, p.i = b, 0
	}
	p.i++
	return &p.cur[p.i-1], nil
}

// stop ends the producer and waits for it, so that the source can be closed.
func (p *pipeline) stop() {
	close(p.done)
	p.wg.Wait()
}
