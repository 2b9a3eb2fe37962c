package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/batch/store"
)

// runApproved submits the sample as alice, has bob approve it, runs it as
// alice and waits for the run to end.
func runApproved(t *testing.T, e *env, sheet string) string {
	t.Helper()
	alice := e.as("alice")
	id := alice.submitSheet(sheet)
	if p := e.as("bob").post("/batches/"+id+"/approve", url.Values{"comment": {"ok"}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}
	if p := alice.post("/batches/"+id+"/run", nil); p.status != http.StatusSeeOther {
		t.Fatalf("run: %d %s", p.status, p.body)
	}
	alice.waitRun(id, 2*time.Minute)
	return id
}

// rowsIn returns the batch's refunds of one provider in one state.
func rowsIn(t *testing.T, e *env, id, provider string, st store.State) []store.Record {
	t.Helper()
	v, err := e.Ledger.View(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var out []store.Record
	v.Each(context.Background(), func(r store.Record) error {
		if r.Provider == provider && r.State == st {
			out = append(out, r)
		}
		return nil
	})
	return out
}

func byKey(t *testing.T, e *env, key string) store.Record {
	t.Helper()
	r, ok, err := e.Ledger.ByKey(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("ByKey: %v %v", ok, err)
	}
	return r
}

// TestNotificationsSettlePending: PayEase's signed notification and
// Nomad's unsigned one (through a lookup) settle refunds the run left
// pending; a repeat changes nothing.
func TestNotificationsSettlePending(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways, noNotify: true,
		faults: sandbox.Faults{PendingRate: 1, SettleAfter: 300 * time.Millisecond, Seed: 1}})
	id := runApproved(t, e, sampleXLSX)
	ctx := context.Background()
	for _, prov := range []string{adapters.PayEase, adapters.Nomad} {
		pending := rowsIn(t, e, id, prov, store.Pending)
		if len(pending) < 2 {
			t.Fatalf("%s: %d pending rows after the run", prov, len(pending))
		}
		time.Sleep(350 * time.Millisecond) // the sandbox settles them now
		for _, r := range pending[:2] {
			status, body, err := e.Sandbox.Notify(ctx, prov, r.Account, r.RefundNo, e.URL+"/notify/"+prov)
			if err != nil || status != http.StatusOK {
				t.Fatalf("%s notify of %s: %d %s %v", prov, r.RefundNo, status, body, err)
			}
			after := byKey(t, e, r.Key())
			if after.State != store.Succeeded || after.Version != r.Version+1 {
				t.Fatalf("%s refund %s after its notification: %s v%d (was v%d)", prov, r.RefundNo, after.State, after.Version, r.Version)
			}
			// The same notification again: acknowledged, nothing written.
			status, _, err = e.Sandbox.Notify(ctx, prov, r.Account, r.RefundNo, e.URL+"/notify/"+prov)
			if again := byKey(t, e, r.Key()); err != nil || status != http.StatusOK || again.Version != after.Version {
				t.Fatalf("repeat: %d %v, version %d → %d", status, err, after.Version, again.Version)
			}
		}
		// The others are untouched.
		if r := byKey(t, e, pending[2].Key()); r.State != store.Pending {
			t.Fatalf("a refund nobody notified moved to %s", r.State)
		}
	}
}

// TestBadNotificationRefused: a PayEase notification signed with another
// platform key, a tampered one and an unsigned one are refused (400),
// logged and recorded, and settle nothing.
func TestBadNotificationRefused(t *testing.T) {
	e := newEnv(t, envOptions{controls: approvalAlways, noNotify: true,
		faults: sandbox.Faults{PendingRate: 1, SettleAfter: 50 * time.Millisecond, Seed: 2}})
	id := runApproved(t, e, sampleXLSX)
	ctx := context.Background()
	pending := rowsIn(t, e, id, adapters.PayEase, store.Pending)
	if len(pending) == 0 {
		t.Fatal("no pending PayEase refund")
	}
	target := pending[0]

	// A second sandbox playing a forger: the same merchant's public key
	// (so the notification decrypts) but its own platform key, which is
	// not the one configured here. It holds the same refund.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	orders, _ := sandbox.LoadOrders(sampleOrders, time.Now())
	forger, err := sandbox.Start(sandbox.Config{Orders: orders, Accounts: e.Sandbox.Accounts(),
		PlatformPrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	clients, err := config.ForSandbox(forger.URL(), forger.Accounts()).Providers()
	if err != nil {
		t.Fatal(err)
	}
	rf := target.Refund
	rf.NotifyURL = "https://notify.invalid/x"
	if _, err := clients[config.Key(adapters.PayEase, target.Account)].Refund(ctx, rf); err != nil {
		t.Fatalf("refund at the forger: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	status, body, err := forger.Notify(ctx, adapters.PayEase, target.Account, target.RefundNo, e.URL+"/notify/payease")
	if err != nil || status != http.StatusBadRequest {
		t.Fatalf("forged notification: %d %s %v; want 400", status, body, err)
	}

	// Tampered and unsigned bodies.
	post := func(body string, hdr map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/notify/payease", strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(`{"data":"AAAA"}`, map[string]string{"merchantId": target.Account, "encryptKey": "AAAA"}); got != http.StatusBadRequest {
		t.Errorf("tampered: %d", got)
	}
	if got := post(`{"merchantId":"`+target.Account+`","requestId":"`+target.RefundNo+`","refundStatus":"SUCCESS","code":"X"}`,
		map[string]string{"merchantId": target.Account}); got != http.StatusBadRequest {
		t.Errorf("unsigned: %d", got)
	}
	if got := post(`{}`, map[string]string{"merchantId": "999999999"}); got != http.StatusBadRequest {
		t.Errorf("unknown merchant: %d", got)
	}

	if r := byKey(t, e, target.Key()); r.State != store.Pending || r.Version != target.Version {
		t.Fatalf("a refused notification moved the refund: %s v%d", r.State, r.Version)
	}
	var refused []string
	e.Ledger.AuditTrail(ctx, "", func(a store.Audit) error {
		if a.Action == "notify-refused" {
			refused = append(refused, a.Detail)
		}
		return nil
	})
	if len(refused) != 4 || !strings.Contains(refused[0], "hmac does not verify") {
		t.Fatalf("refused notifications in the audit trail: %q", refused)
	}
	if !strings.Contains(e.logs(), "notification refused") {
		t.Error("not logged")
	}
	// The genuine one still settles it.
	time.Sleep(60 * time.Millisecond)
	if status, body, err := e.Sandbox.Notify(ctx, adapters.PayEase, target.Account, target.RefundNo, e.URL+"/notify/payease"); err != nil || status != http.StatusOK {
		t.Fatalf("genuine notification: %d %s %v", status, body, err)
	}
	if r := byKey(t, e, target.Key()); r.State != store.Succeeded {
		t.Fatalf("after the genuine notification: %s", r.State)
	}
	if slices.Contains(e.auditActions(id), "payease-notify notify-exception") {
		t.Error("the genuine notification was taken as an exception")
	}
}
