package payease_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

// BenchmarkRefund is bounded by RSA: per refund the client signs (private
// key), encrypts the AES key (public), decrypts the answer's key (private)
// and verifies the answer (public); the sandbox does the mirror image.
func BenchmarkRefund(b *testing.B) {
	day := time.Now().Format("20060102")
	adaptertest.Bench(b, adaptertest.Harness{
		Provider: adapters.PayEase, Account: "890000593",
		OrderNo: func(i int) string { return fmt.Sprintf("%s-890000593-%d", day, 9000+i) },
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return payease.New(payease.Options{BaseURL: base, MerchantID: a.ID, MerchantPrivateKeyPEM: a.MerchantPrivateKeyPEM,
				PlatformPublicKeyPEM: a.PlatformPublicKeyPEM, NotifyURL: "https://notify.invalid/payease", Timeout: timeout})
		},
	}, nil)
}

// BenchmarkSign separates the hmac's cost (one RSA-2048 private-key
// operation) from building its source string.
func BenchmarkSign(b *testing.B) {
	pemBytes, err := os.ReadFile("testdata/merchant_test_key.pem")
	if err != nil {
		b.Fatal(err)
	}
	key, err := payease.ParsePrivateKey(pemBytes)
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]any{"merchantId": "890000593", "orderRequestId": "20261120-890000593-1001",
		"requestId": "R20240101001", "amount": 100, "notifyUrl": "https://m.example/notify"}
	b.Run("source", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			payease.HmacSource(fields)
		}
	})
	b.Run("rsa", func(b *testing.B) {
		src := payease.HmacSource(fields)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := payease.Sign(key, src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
