package sandbox

import (
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/money"
)

// BenchmarkRefund measures refunds per second through the sandbox over
// loopback HTTP at zero latency: a keep-alive client loop at concurrency 32
// (SetParallelism 16 × GOMAXPROCS 2) in the same process, every refund a new
// refund number. "baseline" is a trivial handler on the same kind of server,
// driven by exactly the client work of the "quickpay" case: the cost of HTTP
// and of the client alone on this machine.
//
//	go test -run '^$' -bench BenchmarkRefund -benchtime 3s ./adapters/sandbox/
func BenchmarkRefund(b *testing.B) {
	const big = 999999999999 // fen: no order runs out during a benchmark
	var orders []Order
	for i := 0; i < 64; i++ {
		n := strconv.Itoa(i)
		orders = append(orders,
			Order{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "U" + n, Total: big, Currency: money.CNY, PaidAt: t0},
			Order{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "Q" + n, Total: big, Currency: money.CNY, PaidAt: t0},
			Order{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "N" + n, Total: big, Currency: money.CNY, PaidAt: t0, PaymentMethod: "wechatpay"},
			Order{Provider: adapters.PayEase, Account: "890000593", OrderNo: "20261120-890000593-" + strconv.Itoa(1000+i), Total: big, Currency: money.CNY, PaidAt: t0},
		)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	run := func(b *testing.B, sb *Sandbox, build func(n int64) *http.Request, ok func([]byte) bool) {
		var seq atomic.Int64
		b.SetParallelism(16)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Do(build(seq.Add(1)))
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !ok(body) {
					b.Errorf("refund failed: %s", body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refunds/s")
	}
	now := func() time.Time { return t0 }
	newSB := func(b *testing.B) *Sandbox {
		sb, err := Start(Config{Orders: orders, Now: now, Accounts: []Account{{Provider: adapters.Upay, ID: "100000330000000001", Secret: workedKey}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sb.Close() })
		return sb
	}

	b.Run("baseline", func(b *testing.B) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"code":"SUCCESS","msg":"ok"}`))
		})}
		go srv.Serve(ln)
		defer srv.Close()
		// The client does exactly the QuickPay case's work (body, HMAC,
		// headers); only the server side differs.
		trivial := &Sandbox{url: "http://" + ln.Addr().String()}
		run(b, nil, func(n int64) *http.Request {
			return quickpayRequest(trivial, "Refund", "k", `{"store_no":"SH001","operator":"op","refund_amount":1,"order_no":"Q`+strconv.FormatInt(n%64, 10)+
				`","refund_no":"b`+strconv.FormatInt(n, 10)+`"}`)
		}, func(b []byte) bool { return contains(b, `"code":"SUCCESS"`) })
	})
	b.Run("upay", func(b *testing.B) {
		sb := newSB(b)
		run(b, sb, func(n int64) *http.Request {
			return upayRequest(sb, "refund", term1, workedKey, `{"terminal_sn":"100000330000000001","client_sn":"U`+strconv.FormatInt(n%64, 10)+
				`","refund_request_no":"b`+strconv.FormatInt(n, 10)+`","operator":"op","refund_amount":"1"}`)
		}, func(b []byte) bool { return contains(b, `"REFUND_SUCCESS"`) })
	})
	b.Run("quickpay", func(b *testing.B) {
		sb := newSB(b)
		key := acct(b, sb, adapters.QuickPay, "SH001").Secret
		run(b, sb, func(n int64) *http.Request {
			return quickpayRequest(sb, "Refund", key, `{"store_no":"SH001","operator":"op","refund_amount":1,"order_no":"Q`+strconv.FormatInt(n%64, 10)+
				`","refund_no":"b`+strconv.FormatInt(n, 10)+`"}`)
		}, func(b []byte) bool { return contains(b, `"code":"SUCCESS"`) })
	})
	b.Run("nomad", func(b *testing.B) {
		sb := newSB(b)
		key := acct(b, sb, adapters.Nomad, "wechat.sh_smk").Secret
		run(b, sb, func(n int64) *http.Request {
			return nomadRequest(sb, "POST", "/refund/wechat.sh_smk", key, `{"paymentMethod":"wechatpay","orderRef":"N`+strconv.FormatInt(n%64, 10)+
				`","refundOrderRef":"b`+strconv.FormatInt(n, 10)+`","refundAmount":1,"totalAmount":999999999999,"currency":"CNY"}`)
		}, func(b []byte) bool { return contains(b, `"status":"SUCCESS"`) })
	})
	// PayEase: the client side (sign + decrypt answer key: two RSA private
	// operations) runs in the same process and shares the 2 cores with the
	// sandbox's own two (decrypt request key, sign answer).
	b.Run("payease", func(b *testing.B) {
		sb := newSB(b)
		acc := acct(b, sb, adapters.PayEase, "890000593")
		run(b, sb, func(n int64) *http.Request {
			return payeaseRequest(b, sb, "refund", acc, map[string]any{"merchantId": "890000593",
				"orderRequestId": "20261120-890000593-" + strconv.FormatInt(1000+n%64, 10), "requestId": "b" + strconv.FormatInt(n, 10),
				"amount": json.Number("1"), "notifyUrl": "https://notify.invalid/x"})
		}, func(b []byte) bool { return contains(b, `"data"`) })
	})
	// PayEase, the sandbox's side alone: requests are sealed and signed
	// before the timer starts, and answers are not decrypted.
	b.Run("payease-server", func(b *testing.B) {
		sb := newSB(b)
		acc := acct(b, sb, adapters.PayEase, "890000593")
		reqs := make([]*http.Request, b.N+1)
		for i := range reqs {
			reqs[i] = payeaseRequest(b, sb, "refund", acc, map[string]any{"merchantId": "890000593",
				"orderRequestId": "20261120-890000593-" + strconv.Itoa(1000+i%64), "requestId": "s" + strconv.Itoa(i),
				"amount": json.Number("1"), "notifyUrl": "https://notify.invalid/x"})
		}
		run(b, sb, func(n int64) *http.Request { return reqs[n-1] }, func(b []byte) bool { return contains(b, `"data"`) })
	})
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// BenchmarkHandler is the sandbox's own CPU cost per refund, without the
// network: requests go straight to Handler().ServeHTTP (signature check,
// decode, rules, ledger, encode), serially.
func BenchmarkHandler(b *testing.B) {
	const big = 999999999999
	orders := []Order{
		{Provider: adapters.Upay, Account: "100000330000000001", OrderNo: "U0", Total: big, Currency: money.CNY, PaidAt: t0},
		{Provider: adapters.QuickPay, Account: "SH001", OrderNo: "Q0", Total: big, Currency: money.CNY, PaidAt: t0},
		{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "N0", Total: big, Currency: money.CNY, PaidAt: t0, PaymentMethod: "wechatpay"},
	}
	sb, err := New(Config{Orders: orders, Now: func() time.Time { return t0 }, Accounts: []Account{{Provider: adapters.Upay, ID: "100000330000000001", Secret: workedKey}}})
	if err != nil {
		b.Fatal(err)
	}
	sb.url = "http://sandbox.test"
	h := sb.Handler()
	serve := func(b *testing.B, build func(i int) *http.Request) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, build(i))
			if rec.Code != 200 {
				b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("upay", func(b *testing.B) {
		serve(b, func(i int) *http.Request {
			return upayRequest(sb, "refund", term1, workedKey, `{"terminal_sn":"100000330000000001","client_sn":"U0","refund_request_no":"h`+strconv.Itoa(i)+`","operator":"op","refund_amount":"1"}`)
		})
	})
	b.Run("quickpay", func(b *testing.B) {
		key := acct(b, sb, adapters.QuickPay, "SH001").Secret
		serve(b, func(i int) *http.Request {
			return quickpayRequest(sb, "Refund", key, `{"store_no":"SH001","operator":"op","refund_amount":1,"order_no":"Q0","refund_no":"h`+strconv.Itoa(i)+`"}`)
		})
	})
	b.Run("nomad", func(b *testing.B) {
		key := acct(b, sb, adapters.Nomad, "wechat.sh_smk").Secret
		serve(b, func(i int) *http.Request {
			return nomadRequest(sb, "POST", "/refund/wechat.sh_smk", key, `{"paymentMethod":"wechatpay","orderRef":"N0","refundOrderRef":"h`+strconv.Itoa(i)+`","refundAmount":1,"totalAmount":999999999999}`)
		})
	})
}

// BenchmarkRSAPrivateOp is PayEase's bound: one RSA-2048 private-key
// operation (the sandbox does two per refund: decrypt encryptKey, sign the
// answer), on the parallel loop's goroutines.
func BenchmarkRSAPrivateOp(b *testing.B) {
	k, err := cachedKey("platform")
	if err != nil {
		b.Fatal(err)
	}
	digest := hmacDigest("100#890000593#https://m.example/notify#R1#")
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rsa.SignPKCS1v15(nil, k, crypto.MD5, digest); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
