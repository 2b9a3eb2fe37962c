package runner

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Printer shows a run's progress. It only reads snapshots; the counting is
// the Counter's, so one run can be shown as a bar, as log lines or as JSON.
type Printer interface {
	Update(s Snapshot, elapsed time.Duration)
	Done(s Snapshot, elapsed time.Duration)
}

// Watch calls p.Update every interval until the returned stop is called;
// stop calls p.Done once with the final counts.
func Watch(c *Counter, p Printer, every time.Duration) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.Update(c.Snapshot(), time.Since(start))
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			wg.Wait()
			p.Done(c.Snapshot(), time.Since(start))
		})
	}
}

// perSecond is items settled per second in this run.
func perSecond(s Snapshot, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(s.Settled) / elapsed.Seconds()
}

func eta(s Snapshot, elapsed time.Duration) string {
	r := perSecond(s, elapsed)
	left := s.Total - s.Done()
	if r <= 0 || left <= 0 {
		return "-"
	}
	return time.Duration(float64(left) / r * float64(time.Second)).Round(time.Second).String()
}

// BarPrinter draws a progressbar/v3 bar: done/total, rate, ETA, and the
// failures so far in its description. For terminals.
type BarPrinter struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

// NewBarPrinter draws on w (a terminal).
func NewBarPrinter(w io.Writer, total int64) *BarPrinter {
	return &BarPrinter{w: w, bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("refunds"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("refunds"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetWidth(30),
		// No OptionThrottle: Watch already paces the updates, and a throttle
		// would swallow the final frame drawn right after the last update,
		// leaving a stale count on the screen above the summary.
	)}
}

func (b *BarPrinter) Update(s Snapshot, _ time.Duration) {
	b.bar.Describe(fmt.Sprintf("failed %d, unknown %d, pending %d", s.Failed, s.Unknown, s.Pending))
	b.bar.Set64(s.Done())
}

func (b *BarPrinter) Done(s Snapshot, e time.Duration) {
	b.Update(s, e)
	b.bar.Exit() // leaves the last state drawn, without claiming 100% if interrupted
	b.w.Write([]byte("\n"))
}

// LinePrinter writes one plain line per update, for logs and cron mail.
type LinePrinter struct{ W io.Writer }

func (l LinePrinter) line(prefix string, s Snapshot, e time.Duration) {
	pct := 0.0
	if s.Total > 0 {
		pct = 100 * float64(s.Done()) / float64(s.Total)
	}
	fmt.Fprintf(l.W, "%s %d/%d done (%.1f%%), %.0f refunds/s, succeeded %d, failed %d, pending %d, unknown %d, retries %d, elapsed %s, ETA %s\n",
		prefix, s.Done(), s.Total, pct, perSecond(s, e), s.Succeeded, s.Failed, s.Pending, s.Unknown, s.Retries, e.Round(time.Second), eta(s, e))
}

func (l LinePrinter) Update(s Snapshot, e time.Duration) { l.line("progress:", s, e) }
func (l LinePrinter) Done(s Snapshot, e time.Duration)   { l.line("finished:", s, e) }

// JSONPrinter logs progress as structured records (log/slog), for cron.
type JSONPrinter struct{ L *slog.Logger }

func (j JSONPrinter) attrs(s Snapshot, e time.Duration) []any {
	return []any{"done", s.Done(), "total", s.Total, "settled_this_run", s.Settled, "succeeded", s.Succeeded,
		"failed", s.Failed, "pending", s.Pending, "unknown", s.Unknown, "calls", s.Calls, "retries", s.Retries,
		"rate_per_s", int64(perSecond(s, e)), "elapsed_s", int64(e.Seconds())}
}

func (j JSONPrinter) Update(s Snapshot, e time.Duration) { j.L.Info("progress", j.attrs(s, e)...) }
func (j JSONPrinter) Done(s Snapshot, e time.Duration)   { j.L.Info("run finished", j.attrs(s, e)...) }

// Quiet prints nothing.
type Quiet struct{}

func (Quiet) Update(Snapshot, time.Duration) {}
func (Quiet) Done(Snapshot, time.Duration)   {}
