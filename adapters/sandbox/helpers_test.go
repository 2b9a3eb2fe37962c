package sandbox

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// The helpers below build provider requests by hand from the documents,
// independently of the sandbox's own code (and of the adapters), so a test
// passing shows the wire format stands on its own.

// t0 is 14:00 in Shanghai: "now-2h" is the same Shanghai day, "now-30h" the day before.
var t0 = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// workedKey is the terminal key of the Upay worked example in PROVIDERS.md.
const workedKey = "0123456789abcdef0123456789abcdef"

func start(t testing.TB, f Faults) (*Sandbox, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	orders, err := LoadOrders("testdata/orders.csv", t0)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Start(Config{Orders: orders, Faults: f, Now: clk.Now,
		Accounts: []Account{{Provider: adapters.Upay, ID: "100000330000000001", Secret: workedKey}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb, clk
}

func acct(t testing.TB, sb *Sandbox, provider, id string) Account {
	t.Helper()
	for _, a := range sb.Accounts() {
		if a.Provider == provider && a.ID == id {
			return a
		}
	}
	t.Fatalf("no account %s/%s", provider, id)
	return Account{}
}

var client = &http.Client{Timeout: 10 * time.Second}

func do(t testing.TB, c *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, b)
	}
	return m
}

// path reads a nested string from a decoded answer: path(m, "biz_response", "data", "sn").
func path(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(int64(x))
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func upayRequest(sb *Sandbox, op, terminal, key, body string) *http.Request {
	sum := md5.Sum([]byte(body + key))
	req, _ := http.NewRequest("POST", sb.URL()+"/upay/v2/"+op, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", terminal+" "+hex.EncodeToString(sum[:]))
	return req
}

func upay(t testing.TB, sb *Sandbox, op, terminal, body string) map[string]any {
	t.Helper()
	key := acct(t, sb, adapters.Upay, terminal).Secret
	st, _, b := do(t, client, upayRequest(sb, op, terminal, key, body))
	if st != 200 {
		t.Fatalf("upay %s: HTTP %d %s", op, st, b)
	}
	return decode(t, b)
}

func quickpayRequest(sb *Sandbox, op, key, body string) *http.Request {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	req, _ := http.NewRequest("POST", sb.URL()+"/QuickPay/"+op, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-QuickPay-Sign", hex.EncodeToString(m.Sum(nil)))
	return req
}

func quickpay(t testing.TB, sb *Sandbox, op, store, body string) map[string]any {
	t.Helper()
	st, _, b := do(t, client, quickpayRequest(sb, op, acct(t, sb, adapters.QuickPay, store).Secret, body))
	if st != 200 {
		t.Fatalf("quickpay %s: HTTP %d %s", op, st, b)
	}
	return decode(t, b)
}

func nomadRequest(sb *Sandbox, method, pathq, key, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, sb.URL()+pathq, rd)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("app-api-key", key)
	}
	return req
}

func nomad(t testing.TB, sb *Sandbox, method, pathq, body string) (int, map[string]any) {
	t.Helper()
	st, _, b := do(t, client, nomadRequest(sb, method, pathq, acct(t, sb, adapters.Nomad, "wechat.sh_smk").Secret, body))
	return st, decode(t, b)
}

// --- PayEase, by hand ---

func testSource(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "hmac" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		var s string
		switch v := m[k].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case int64:
			s = fmt.Sprint(v)
		case int:
			s = fmt.Sprint(v)
		}
		if s != "" {
			b.WriteString(s + "#")
		}
	}
	return b.String()
}

// testHmac is PHP openssl_sign(sha1($src, true), $sig, $key, "md5"):
// openssl MD5-hashes its input, then signs with an MD5 DigestInfo.
func testHmac(t testing.TB, k *rsa.PrivateKey, m map[string]any) string {
	raw := sha1.Sum([]byte(testSource(m)))
	d := md5.Sum(raw[:])
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.MD5, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func testECB(key, data []byte, decrypt bool) []byte {
	blk, _ := aes.NewCipher(key)
	if !decrypt {
		n := 16 - len(data)%16
		data = append(append([]byte{}, data...), bytes.Repeat([]byte{byte(n)}, n)...)
	}
	out := make([]byte, len(data))
	for i := 0; i+16 <= len(data); i += 16 {
		if decrypt {
			blk.Decrypt(out[i:], data[i:i+16])
		} else {
			blk.Encrypt(out[i:], data[i:i+16])
		}
	}
	if decrypt && len(out) > 0 {
		out = out[:len(out)-int(out[len(out)-1])]
	}
	return out
}

func pemPriv(t testing.TB, b []byte) *rsa.PrivateKey {
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func pemPub(t testing.TB, b []byte) *rsa.PublicKey {
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

// payeaseRequest seals fields (hmac added unless it is already there).
func payeaseRequest(t testing.TB, sb *Sandbox, op string, acc Account, fields map[string]any) *http.Request {
	if _, ok := fields["hmac"]; !ok {
		fields["hmac"] = testHmac(t, pemPriv(t, acc.MerchantPrivateKeyPEM), fields)
	}
	js, _ := json.Marshal(fields)
	aesKey := []byte("Ab3dEf6hIj9lMn2p")
	ek, err := rsa.EncryptPKCS1v15(rand.Reader, pemPub(t, acc.PlatformPublicKeyPEM), aesKey)
	if err != nil {
		t.Fatal(err)
	}
	body := base64.StdEncoding.EncodeToString(testECB(aesKey, js, false))
	req, _ := http.NewRequest("POST", sb.URL()+"/icc/"+op, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.5upay-v3.0+json")
	req.Header.Set("merchantId", acc.ID)
	if id, ok := fields["requestId"].(string); ok {
		req.Header.Set("requestId", id)
	}
	req.Header.Set("encryptKey", base64.StdEncoding.EncodeToString(ek))
	return req
}

// payeaseOpen decrypts an answer (or notify) and, when it carries an hmac,
// verifies it with the platform key; verified reports whether it did.
func payeaseOpen(t testing.TB, acc Account, hdr http.Header, body []byte) (m map[string]any, verified bool) {
	t.Helper()
	outer := decode(t, body)
	data, ok := outer["data"].(string)
	if !ok {
		return outer, false // a plaintext error
	}
	ek, _ := base64.StdEncoding.DecodeString(hdr.Get("encryptKey"))
	key, err := rsa.DecryptPKCS1v15(nil, pemPriv(t, acc.MerchantPrivateKeyPEM), ek)
	if err != nil {
		t.Fatalf("answer encryptKey: %v", err)
	}
	ct, _ := base64.StdEncoding.DecodeString(data)
	dec := json.NewDecoder(bytes.NewReader(testECB(key, ct, true)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("answer plaintext: %v", err)
	}
	h, _ := m["hmac"].(string)
	if h == "" {
		return m, false
	}
	sig, _ := base64.StdEncoding.DecodeString(h)
	raw := sha1.Sum([]byte(testSource(m)))
	d := md5.Sum(raw[:])
	if err := rsa.VerifyPKCS1v15(pemPub(t, acc.PlatformPublicKeyPEM), crypto.MD5, d[:], sig); err != nil {
		t.Fatalf("answer hmac does not verify with the platform key: %v (%v)", err, m)
	}
	return m, true
}

func payease(t testing.TB, sb *Sandbox, op string, fields map[string]any) (map[string]any, bool) {
	t.Helper()
	acc := acct(t, sb, adapters.PayEase, "890000593")
	st, hdr, b := do(t, client, payeaseRequest(t, sb, op, acc, fields))
	if st != 200 {
		t.Fatalf("payease %s: HTTP %d %s", op, st, b)
	}
	return payeaseOpen(t, acc, hdr, b)
}

func ledgerFor(sb *Sandbox, provider, refundNo string) []LedgerRefund {
	var out []LedgerRefund
	for _, r := range sb.Ledger() {
		if r.Provider == provider && r.RefundNo == refundNo {
			out = append(out, r)
		}
	}
	return out
}
