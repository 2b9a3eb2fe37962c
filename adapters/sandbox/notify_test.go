package sandbox_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/money"
)

// This file is an external test: it drives notifies through the exported
// API only, as a test of the runner or a notify receiver in another package
// would.

type notice struct {
	path   string
	header http.Header
	body   []byte
}

func receiver(t *testing.T) (*httptest.Server, chan notice) {
	ch := make(chan notice, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- notice{r.URL.Path, r.Header.Clone(), b}
		io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func next(t *testing.T, ch chan notice) notice {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notify within 10s")
	}
	return notice{}
}

func TestNotifyOfPendingRefundsThatSettle(t *testing.T) {
	srv, ch := receiver(t)
	day := time.Now().Format("20060102")
	peOrder := day + "-890000593-77"
	sb, err := sandbox.Start(sandbox.Config{
		Orders: []sandbox.Order{
			{Provider: adapters.Nomad, Account: "wechat.sh_smk", OrderNo: "NM-N1", Total: 1000, Currency: money.CNY, PaidAt: time.Now(), PaymentMethod: "wechatpay"},
			{Provider: adapters.PayEase, Account: "890000593", OrderNo: peOrder, Total: 1000, Currency: money.CNY, PaidAt: time.Now()},
		},
		Faults: sandbox.Faults{PendingRate: 1, SettleAfter: 200 * time.Millisecond},
		// Every notify goes to the test's receiver, whatever the refund named.
		NotifyURL: srv.URL + "/notify",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var nomadKey string
	var pe sandbox.Account
	for _, a := range sb.Accounts() {
		switch a.Provider {
		case adapters.Nomad:
			nomadKey = a.Secret
		case adapters.PayEase:
			pe = a
		}
	}

	// Nomad: a hand-built refund, pending, then settled and notified.
	body := `{"paymentMethod":"wechatpay","orderRef":"NM-N1","refundOrderRef":"NN1","refundAmount":300,"totalAmount":1000,"notifyUrl":"https://merchant.invalid/cb"}`
	req, _ := http.NewRequest("POST", sb.URL()+"/refund/wechat.sh_smk", strings.NewReader(body))
	req.Header.Set("app-api-key", nomadKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans map[string]any
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if ans["status"] != "PROCESSING" {
		t.Fatalf("Nomad refund answer %v, want PROCESSING", ans)
	}
	n := next(t, ch)
	var nn map[string]string
	if err := json.Unmarshal(n.body, &nn); err != nil || n.path != "/notify" || nn["refundOrderRef"] != "NN1" || nn["status"] != "SUCCESS" || nn["successTime"] == "" {
		t.Fatalf("Nomad notify %s %s: %v", n.path, n.body, err)
	}

	// PayEase: through the client, pending, then an encrypted, signed notify.
	c, err := payease.New(payease.Options{BaseURL: sb.URL(), MerchantID: pe.ID, MerchantPrivateKeyPEM: pe.MerchantPrivateKeyPEM,
		PlatformPublicKeyPEM: pe.PlatformPublicKeyPEM, NotifyURL: "https://merchant.invalid/cb"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Refund(context.Background(), adapters.Refund{Provider: adapters.PayEase, Account: pe.ID, OrderNo: peOrder,
		RefundNo: "PN1", Amount: 400, Reason: "damaged"})
	if err != nil || out.Status != adapters.StatusPending {
		t.Fatalf("PayEase refund: %+v, %v", out, err)
	}
	n = next(t, ch)
	f := openPayEase(t, pe, n)
	if f["requestId"] != "PN1" || f["refundStatus"] != "SUCCESS" || f["remark"] != "damaged" || f["refundCompleteTime"] == nil {
		t.Fatalf("PayEase notify %v", f)
	}

	// The same notify again, on demand and synchronously, to another URL.
	st, b, err := sb.Notify(context.Background(), adapters.Nomad, "wechat.sh_smk", "NN1", srv.URL+"/again")
	if err != nil || st != 200 || string(b) != "success" {
		t.Fatalf("Notify: %d %q %v", st, b, err)
	}
	if n := next(t, ch); n.path != "/again" || !bytes.Contains(n.body, []byte(`"NN1"`)) {
		t.Fatalf("Notify sent %s %s", n.path, n.body)
	}
	if _, _, err := sb.Notify(context.Background(), adapters.PayEase, pe.ID, "PN1", ""); err != nil {
		t.Fatalf("Notify to Config.NotifyURL: %v", err)
	}
	openPayEase(t, pe, next(t, ch))

	// What has no notify.
	if _, _, err := sb.Notify(context.Background(), adapters.Upay, "x", "y", ""); !errors.Is(err, sandbox.ErrNoNotify) {
		t.Errorf("Upay notify: %v, want ErrNoNotify", err)
	}
	if _, _, err := sb.Notify(context.Background(), adapters.Nomad, "wechat.sh_smk", "nope", ""); !errors.Is(err, sandbox.ErrInvalidRefund) {
		t.Errorf("unknown refund: %v, want ErrInvalidRefund", err)
	}
	sb.SetFaults(sandbox.Faults{PendingRate: 1, SettleAfter: time.Hour})
	c.Refund(context.Background(), adapters.Refund{Provider: adapters.PayEase, Account: pe.ID, OrderNo: peOrder, RefundNo: "PN2", Amount: 1})
	if _, _, err := sb.Notify(context.Background(), adapters.PayEase, pe.ID, "PN2", ""); !errors.Is(err, sandbox.ErrNoNotify) {
		t.Errorf("pending refund: %v, want ErrNoNotify", err)
	}
	if _, _, err := sb.Notify(context.Background(), adapters.Nomad, "wechat.sh_smk", "NN1", "http://example.com/cb"); err == nil {
		t.Error("a notify to a host off this machine was sent")
	}
}

// openPayEase decrypts a PayEase notify with the merchant's private key and
// verifies its hmac with the platform's public key.
func openPayEase(t *testing.T, acc sandbox.Account, n notice) map[string]any {
	t.Helper()
	if n.header.Get("Content-Type") != "application/vnd.5upay-v3.0+json" || n.header.Get("merchantId") != acc.ID {
		t.Fatalf("PayEase notify headers %v", n.header)
	}
	priv, err := payease.ParsePrivateKey(acc.MerchantPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := payease.ParsePublicKey(acc.PlatformPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := base64.StdEncoding.DecodeString(n.header.Get("encryptKey"))
	key, err := rsa.DecryptPKCS1v15(nil, priv, wrapped)
	if err != nil {
		t.Fatalf("encryptKey: %v", err)
	}
	var outer struct{ Data string }
	json.Unmarshal(n.body, &outer)
	ct, _ := base64.StdEncoding.DecodeString(outer.Data)
	blk, err := aes.NewCipher(key)
	if err != nil || len(ct) == 0 || len(ct)%16 != 0 {
		t.Fatalf("notify body: %v (%d bytes)", err, len(ct))
	}
	for i := 0; i < len(ct); i += 16 {
		blk.Decrypt(ct[i:i+16], ct[i:i+16])
	}
	plain := ct[:len(ct)-int(ct[len(ct)-1])]
	var f map[string]any
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	h, _ := f["hmac"].(string)
	if err := payease.Verify(pub, payease.HmacSource(f), h); err != nil {
		t.Fatalf("notify hmac does not verify with the platform key: %v (%v)", err, f)
	}
	return f
}
