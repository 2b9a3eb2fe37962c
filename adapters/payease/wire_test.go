package payease

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bulkrefund/bulkrefund/adapters"
)

func TestHmacSource(t *testing.T) {
	cases := []struct {
		name   string
		fields string
		want   string
	}{
		{"the PROVIDERS.md example: refund fields sorted A-Z, empty remark and hmac left out",
			`{"requestId":"R20240101001","orderRequestId":"db50e5bac76e40b18cbd5da1ce238cca","notifyUrl":"https://m.example/notify","merchantId":"890000593","amount":100,"remark":"","hmac":"xyz"}`,
			"100#890000593#https://m.example/notify#db50e5bac76e40b18cbd5da1ce238cca#R20240101001#"},
		{"upper case sorts before lower case (byte order), values trimmed, nulls dropped",
			`{"b":" 2 ","B":"1","a":null}`, "1#2#"},
		{"nested objects sorted and flattened depth-first, arrays in order",
			`{"z":"9","items":[{"y":"2","x":"1"},{"x":"3"}],"m":{"k2":"b","k1":"a"}}`, "1#2#3#a#b#9#"},
		{"numbers keep their exact text", `{"amount":1234567890123,"rate":0.10}`, "1234567890123#0.10#"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeFields([]byte(tc.fields))
			if err != nil {
				t.Fatal(err)
			}
			if got := HmacSource(m); got != tc.want {
				t.Fatalf("HmacSource = %q, want %q", got, tc.want)
			}
		})
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The signature must equal what PHP's openssl_sign(sha1raw, …, "md5") makes;
// testdata/example_hmac.openssl.txt was made by the openssl CLI that way.
func TestSignMatchesOpenSSL(t *testing.T) {
	key, err := ParsePrivateKey(readFile(t, "merchant_test_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	src := "100#890000593#https://m.example/notify#db50e5bac76e40b18cbd5da1ce238cca#R20240101001#"
	got, err := Sign(key, src)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(readFile(t, "example_hmac.openssl.txt")))
	if got != want {
		t.Fatalf("Sign = %s\nopenssl = %s", got, want)
	}
	if err := Verify(&key.PublicKey, src, got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify(&key.PublicKey, src+"x", got); err == nil {
		t.Fatal("Verify accepted a changed source")
	}
}

func TestECBRoundTrip(t *testing.T) {
	key := []byte("0123456789abcdef")
	for _, n := range []int{0, 1, 15, 16, 17, 100} {
		plain := []byte(strings.Repeat("x", n))
		enc, err := encryptECB(key, plain)
		if err != nil || len(enc)%16 != 0 || len(enc) <= n {
			t.Fatalf("n=%d: len %d err %v", n, len(enc), err)
		}
		dec, err := decryptECB(key, enc)
		if err != nil || string(dec) != string(plain) {
			t.Fatalf("n=%d: round trip %q %v", n, dec, err)
		}
	}
	if _, err := decryptECB(key, []byte("short")); err == nil {
		t.Fatal("accepted a partial block")
	}
}

// platform is a minimal PayEase written in the test from the doc: it opens a
// request, checks its hmac, records the fields and answers encrypted and
// signed.
type platform struct {
	t        *testing.T
	priv     *rsa.PrivateKey // platform
	merchant *rsa.PublicKey
	mu       sync.Mutex
	header   http.Header
	path     string
	fields   map[string]any
	answer   func(path string, req map[string]any) map[string]any
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wrapped, _ := base64.StdEncoding.DecodeString(r.Header.Get("encryptKey"))
	aesKey, err := rsa.DecryptPKCS1v15(nil, p.priv, wrapped)
	if err != nil || len(aesKey) != 16 {
		http.Error(w, `{"code":"DECRYPT_FAILED"}`, 400)
		return
	}
	enc, _ := base64.StdEncoding.DecodeString(string(body))
	blk, _ := aes.NewCipher(aesKey)
	for i := 0; i+16 <= len(enc); i += 16 {
		blk.Decrypt(enc[i:i+16], enc[i:i+16])
	}
	plain := enc[:len(enc)-int(enc[len(enc)-1])]
	fields, err := decodeFields(plain)
	if err != nil {
		http.Error(w, `{"code":"BAD_JSON"}`, 400)
		return
	}
	sig, _ := base64.StdEncoding.DecodeString(fields["hmac"].(string))
	sha := sha1.Sum([]byte(HmacSource(fields)))
	dig := md5.Sum(sha[:])
	if rsa.VerifyPKCS1v15(p.merchant, crypto.MD5, dig[:], sig) != nil {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"code":"HMAC_VERIFY_FAILED","cause":"signature error"}`)
		return
	}
	p.mu.Lock()
	p.header, p.path, p.fields = r.Header.Clone(), r.URL.Path, fields
	p.mu.Unlock()
	ans := p.answer(r.URL.Path, fields)
	_, unsigned := ans["code"]
	if _, signed := ans["hmac"]; !unsigned && !signed {
		h, _ := Sign(p.priv, HmacSource(ans))
		ans["hmac"] = h
	}
	raw, _ := json.Marshal(ans)
	k := []byte("ABCDEFGHIJKLMNOP")
	out, _ := encryptECB(k, raw)
	wk, _ := rsa.EncryptPKCS1v15(rand.Reader, p.merchant, k)
	w.Header().Set("encryptKey", base64.StdEncoding.EncodeToString(wk))
	json.NewEncoder(w).Encode(map[string]string{"data": base64.StdEncoding.EncodeToString(out)})
}

func newPlatform(t *testing.T, answer func(string, map[string]any) map[string]any) (*platform, *Client) {
	t.Helper()
	ppriv, err := ParsePrivateKey(readFile(t, "platform_test_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mpub, err := ParsePublicKey(readFile(t, "merchant_test_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, priv: ppriv, merchant: mpub, answer: answer}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, MerchantID: "890000593",
		MerchantPrivateKeyPEM: readFile(t, "merchant_test_key.pem"),
		PlatformPublicKeyPEM:  readFile(t, "platform_test_pub.pem"),
		NotifyURL:             "https://m.example/notify"})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func TestRefundWireFormat(t *testing.T) {
	p, c := newPlatform(t, func(path string, req map[string]any) map[string]any {
		return map[string]any{"status": "SUCCESS", "merchantId": "890000593", "orderRequestId": req["orderRequestId"],
			"requestId": req["requestId"], "refundId": "RF1", "amount": req["amount"], "currency": "CNY",
			"refundSubmissionTime": "2026-11-20 10:00:00"}
	})
	out, err := c.Refund(context.Background(), adapters.Refund{Account: "890000593",
		OrderNo: "20261120-890000593-1001", RefundNo: "R20240101001", Amount: 100, Currency: "CNY"})
	if err != nil {
		t.Fatal(err)
	}
	if p.path != "/icc/refund" {
		t.Errorf("path %q", p.path)
	}
	for k, v := range map[string]string{"Content-Type": "application/vnd.5upay-v3.0+json", "merchantId": "890000593", "requestId": "R20240101001"} {
		if p.header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, p.header.Get(k), v)
		}
	}
	want := map[string]string{"merchantId": "890000593", "orderRequestId": "20261120-890000593-1001",
		"requestId": "R20240101001", "notifyUrl": "https://m.example/notify"}
	for k, v := range want {
		if p.fields[k] != v {
			t.Errorf("field %s = %#v, want %q", k, p.fields[k], v)
		}
	}
	if n, ok := p.fields["amount"].(json.Number); !ok || n != "100" {
		t.Errorf("amount = %#v, want the JSON number 100 (fen)", p.fields["amount"])
	}
	if out.Status != adapters.StatusPending || out.ProviderRefundID != "RF1" || out.Amount != 100 || out.Time.IsZero() {
		t.Errorf("accepted refund should be pending: %+v", out)
	}
	if out.RefundNo != "R20240101001" || out.OrderNo != "20261120-890000593-1001" || out.Currency != "CNY" {
		t.Errorf("echo fields: refund %q order %q currency %q", out.RefundNo, out.OrderNo, out.Currency)
	}
}

// The answer is passed through as PayEase gave it; what it leaves out stays
// empty rather than filled from the request.
func TestAnswerNamingAnotherRefundPassesThrough(t *testing.T) {
	_, c := newPlatform(t, func(string, map[string]any) map[string]any {
		return map[string]any{"status": "SUCCESS", "requestId": "R1", "orderRequestId": "20261001-890000593-9", "amount": 18778}
	})
	out, err := c.Refund(context.Background(), adapters.Refund{OrderNo: "20261120-890000593-1001", RefundNo: "R1", Amount: 100})
	if err != nil || out.Amount != 18778 || out.OrderNo != "20261001-890000593-9" || out.RefundNo != "R1" || out.Currency != "" {
		t.Fatalf("got %+v, %v; want the answer's order and amount, no currency", out, err)
	}
}

func TestAnswers(t *testing.T) {
	cases := []struct {
		name     string
		lookup   bool
		ans      map[string]any
		want     adapters.Status
		wantKind adapters.Kind
		wantErr  bool
		notFound bool
	}{
		{name: "query success", lookup: true, ans: map[string]any{"status": "SUCCESS", "refundStatus": "SUCCESS", "amount": 100, "refundId": "RF1"}, want: adapters.StatusSucceeded},
		{name: "query failed", lookup: true, ans: map[string]any{"status": "SUCCESS", "refundStatus": "FAILED"}, want: adapters.StatusFailed},
		{name: "query processing", lookup: true, ans: map[string]any{"status": "SUCCESS", "refundStatus": "PROCESSING"}, want: adapters.StatusPending},
		{name: "query not found", lookup: true, ans: map[string]any{"code": "REFUND_NOT_EXIST", "cause": "no such request"}, notFound: true},
		{name: "unknown merchant is not 'refund not found'", lookup: true, ans: map[string]any{"code": "MERCHANT_NOT_EXIST"}, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "refund refused: final", ans: map[string]any{"code": "AMOUNT_EXCEED", "cause": "refund exceeds paid amount"}, wantErr: true, wantKind: adapters.KindFinal},
		{name: "order unknown: final", ans: map[string]any{"code": "ORDER_NOT_EXIST"}, wantErr: true, wantKind: adapters.KindFinal},
		{name: "bad params: final", ans: map[string]any{"code": "PARAM_ERROR"}, wantErr: true, wantKind: adapters.KindFinal},
		{name: "requestId reused: already done", ans: map[string]any{"code": "REQUEST_ID_REPEAT"}, wantErr: true, wantKind: adapters.KindAlreadyDone},
		{name: "repeat of a failed refund: final error, never a failed outcome", ans: map[string]any{"status": "SUCCESS", "refundStatus": "FAILED"}, wantErr: true, wantKind: adapters.KindFinal},
		{name: "refund sign error: blocked", ans: map[string]any{"code": "HMAC_ERROR", "cause": "bad hmac"}, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "unknown merchant: blocked", ans: map[string]any{"code": "MERCHANT_NOT_EXIST"}, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "undecryptable request: blocked", ans: map[string]any{"code": "DECRYPT_ERROR"}, wantErr: true, wantKind: adapters.KindBlocked},
		{name: "refund system error", ans: map[string]any{"code": "SYSTEM_ERROR", "cause": "try later"}, wantErr: true, wantKind: adapters.KindUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newPlatform(t, func(string, map[string]any) map[string]any {
				m := map[string]any{}
				for k, v := range tc.ans {
					m[k] = v
				}
				return m
			})
			r := adapters.Refund{OrderNo: "20261120-890000593-1001", RefundNo: "R1", Amount: 100}
			var out adapters.Outcome
			var err error
			if tc.lookup {
				out, err = c.Lookup(context.Background(), r)
			} else {
				out, err = c.Refund(context.Background(), r)
			}
			switch {
			case tc.notFound:
				if !errors.Is(err, adapters.ErrNotFound) {
					t.Fatalf("want ErrNotFound, got %+v %v", out, err)
				}
			case tc.wantErr:
				var pe *adapters.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind || out.Status != "" {
					t.Fatalf("got %+v, err %v kind %v; want an *adapters.Error of kind %v", out, err, adapters.KindOf(err), tc.wantKind)
				}
			default:
				if err != nil || out.Status != tc.want {
					t.Fatalf("got %+v %v, want %s", out, err, tc.want)
				}
			}
		})
	}
}

// A forged answer (signed by someone else) must not be believed.
func TestForgedAnswerRejected(t *testing.T) {
	p, c := newPlatform(t, nil)
	forger, _ := ParsePrivateKey(readFile(t, "merchant_test_key.pem"))
	p.answer = func(string, map[string]any) map[string]any {
		m := map[string]any{"status": "SUCCESS", "refundStatus": "SUCCESS"}
		h, _ := Sign(forger, HmacSource(m))
		m["hmac"] = h
		return m
	}
	_, err := c.Lookup(context.Background(), adapters.Refund{OrderNo: "o", RefundNo: "R1"})
	if err == nil || !strings.Contains(err.Error(), "hmac does not verify") {
		t.Fatalf("forged answer accepted: %v", err)
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	key := readFile(t, "merchant_test_key.pem")
	o := Options{BaseURL: "http://x", MerchantID: "890000593", MerchantPrivateKeyPEM: key}
	c, err := New(Options{BaseURL: "http://x", MerchantID: "890000593", MerchantPrivateKeyPEM: key, PlatformPublicKeyPEM: readFile(t, "platform_test_pub.pem")})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		all = append(all, fmt.Sprintf(verb, o), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &o))
	}
	for _, s := range all {
		if strings.Contains(s, "PRIVATE") || strings.Contains(s, string(key[40:80])) {
			t.Errorf("key printed: %s", s)
		}
	}
}

// A client that cannot be built for want of a credential is blocked: the
// configuration must be fixed, nothing about any refund was judged.
func TestMissingCredentialIsBlocked(t *testing.T) {
	_, err := New(Options{BaseURL: "http://x"})
	if adapters.KindOf(err) != adapters.KindBlocked {
		t.Fatalf("New without credentials: %v (kind %v), want blocked", err, adapters.KindOf(err))
	}
}
