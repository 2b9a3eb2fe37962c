package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestBarPrinterDrawsFinalCounts: Done right after an Update (an interrupt
// lands between two ticks) must still draw the final counts, or the screen
// shows a stale bar above the summary.
func TestBarPrinterDrawsFinalCounts(t *testing.T) {
	var out bytes.Buffer
	b := NewBarPrinter(&out, 230)
	b.Update(Snapshot{Total: 230, Settled: 136}, time.Second)
	b.Done(Snapshot{Total: 230, Settled: 156}, time.Second)
	frames := strings.Split(out.String(), "\r")
	last := ""
	for _, f := range frames {
		if strings.Contains(f, "/230") {
			last = f
		}
	}
	if !strings.Contains(last, "156/230") {
		t.Fatalf("last frame %q, want the final 156/230", last)
	}
}
