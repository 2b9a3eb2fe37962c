package sheet

import "sync"

// prefetch reads rows on its own goroutine, in batches, while the caller
// validates the previous ones: parsing (encoding/csv, or excelize's XML
// decoding) and validation then use two cores instead of one. Order is kept:
// one producer, one consumer, batches in sequence.
func prefetch(src source) source {
	p := &prefetcher{source: src, ch: make(chan []rowRec, 4), done: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
}

const prefetchBatch = 512

type rowRec struct {
	row    int
	cells  []string
	rowErr error
}

type prefetcher struct {
	source // stored, ragged, describe come from the wrapped source
	ch     chan []rowRec
	done   chan struct{}
	wg     sync.WaitGroup
	err    error // the error that ended the producer; read after ch is closed
	cur    []rowRec
	i      int
	closed bool
}

func (p *prefetcher) run() {
	defer p.wg.Done()
	defer close(p.ch)
	for {
		batch := make([]rowRec, 0, prefetchBatch)
		// One arena per batch for the cells: the CSV reader reuses its
		// record slice, so cells must be copied out before the next read.
		var arena []string
		for len(batch) < prefetchBatch {
			row, cells, rowErr, err := p.source.next()
			if err != nil {
				p.err = err
				if len(batch) > 0 {
					select {
					case p.ch <- batch:
					case <-p.done:
					}
				}
				return
			}
			if arena == nil {
				arena = make([]string, 0, prefetchBatch*(len(cells)+1))
			}
			start := len(arena)
			arena = append(arena, cells...)
			batch = append(batch, rowRec{row: row, cells: arena[start:len(arena):len(arena)], rowErr: rowErr})
		}
		select {
		case p.ch <- batch:
		case <-p.done:
			return
		}
	}
}

func (p *prefetcher) next() (int, []string, error, error) {
	for p.i >= len(p.cur) {
		b, ok := <-p.ch
		if !ok {
			return 0, nil, nil, p.err
		}
		p.cur, p.i = b, 0
	}
	r := p.cur[p.i]
	p.cur[p.i] = rowRec{} // let the batch's rows go as they are consumed
	p.i++
	return r.row, r.cells, r.rowErr, nil
}

func (p *prefetcher) close() error {
	if !p.closed {
		p.closed = true
		close(p.done)
		p.wg.Wait()
	}
	return p.source.close()
}
