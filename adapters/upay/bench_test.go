package upay_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/adapters/upay"
)

// BenchmarkRefund: the client against a zero-latency sandbox, and the same
// refunds as hand-signed raw requests for a baseline.
func BenchmarkRefund(b *testing.B) {
	adaptertest.Bench(b, adaptertest.Harness{
		Provider: adapters.Upay, Account: "100000330000000001",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return upay.New(upay.Options{BaseURL: base, TerminalSN: a.ID, TerminalKey: a.Secret, Timeout: timeout})
		},
	}, func(ctx context.Context, hc *http.Client, base string, a sandbox.Account, orderNo string, n int64) error {
		body := fmt.Sprintf(`{"terminal_sn":%q,"client_sn":%q,"refund_request_no":"B%d","operator":"bench","refund_amount":"1"}`, a.ID, orderNo, n)
		sum := md5.Sum([]byte(body + a.Secret))
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/upay/v2/refund", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", a.ID+" "+hex.EncodeToString(sum[:]))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "REFUND_SUCCESS") {
			return fmt.Errorf("raw answer %s", b)
		}
		return nil
	})
}
