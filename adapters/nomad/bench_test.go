package nomad_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/nomad"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

func BenchmarkRefund(b *testing.B) {
	adaptertest.Bench(b, adaptertest.Harness{
		Provider: adapters.Nomad, Account: "wechat.sh_smk",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return nomad.New(nomad.Options{BaseURL: base, Merchant: a.ID, APIKey: a.Secret, Timeout: timeout})
		},
	}, func(ctx context.Context, hc *http.Client, base string, a sandbox.Account, orderNo string, n int64) error {
		body := fmt.Sprintf(`{"paymentMethod":"wechatpay","orderRef":%q,"refundOrderRef":"B%d","refundAmount":1,"totalAmount":9000000000}`, orderNo, n)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/refund/"+a.ID, bytes.NewReader([]byte(body)))
		req.Header.Set("app-api-key", a.Secret)
		req.Header.Set("Content-Type", "application/json")
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
