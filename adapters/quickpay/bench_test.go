package quickpay_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/quickpay"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

func BenchmarkRefund(b *testing.B) {
	adaptertest.Bench(b, adaptertest.Harness{
		Provider: adapters.QuickPay, Account: "SH001",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return quickpay.New(quickpay.Options{BaseURL: base, StoreNo: a.ID, StoreKey: a.Secret, Timeout: timeout})
		},
	}, func(ctx context.Context, hc *http.Client, base string, a sandbox.Account, orderNo string, n int64) error {
		body := fmt.Sprintf(`{"store_no":%q,"operator":"bench","refund_amount":1,"order_no":%q,"refund_no":"B%d"}`, a.ID, orderNo, n)
		m := hmac.New(sha256.New, []byte(a.Secret))
		m.Write([]byte(body))
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/QuickPay/Refund", bytes.NewReader([]byte(body)))
		req.Header.Set("X-QuickPay-Sign", hex.EncodeToString(m.Sum(nil)))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"SUCCESS"`) {
			return fmt.Errorf("raw answer %s", b)
		}
		return nil
	})
}
