package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Notifies: when a Nomad or PayEase refund becomes final the provider POSTs
// its outcome to the refund's notifyUrl. PayEase's is documented (seed 004:
// the refund fields plus refundStatus, refundCompleteTime, remark and hmac,
// sent encrypted and signed like its answers); Nomad's is assumed
// (PROVIDERS.md: unsigned JSON {refundOrderRef, status, successTime},
// answered with plain "success"). Upay and QuickPay refunds send none.
//
// The sandbox only ever calls loopback hosts: it never reaches out of the
// machine, whatever a sheet's notify_url says.

// notifyLocked sends a refund's final outcome to its notify URL in the
// background (best effort, 5s timeout, no retries). Callers hold s.mu.
func (s *Sandbox) notifyLocked(r *refund) {
	target := r.notifyURL
	if s.notifyURL != "" {
		target = s.notifyURL
	}
	if target == "" || r.Status == adapters.StatusPending {
		return
	}
	select {
	case <-s.closing:
		return
	default:
	}
	body, hdr, err := s.notifyMessage(r.LedgerRefund, r.ord.snapshot())
	if err != nil {
		return
	}
	s.notifyWG.Add(1)
	go func() {
		defer s.notifyWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.post(ctx, target, body, hdr)
	}()
}

// Notify sends the notify of one Nomad or PayEase refund now and waits for
// the answer, so that a test in any package can drive a notify receiver: the
// refund's current state (a due pending refund is settled first) goes to
// target, or when target is empty to Config.NotifyURL or the notifyUrl its
// refund call named. It returns the receiver's HTTP status and answer body.
// A refund still pending has no notify yet, and Upay and QuickPay send none
// (ErrNoNotify); an unknown refund number is ErrInvalidRefund; a target on a
// non-loopback host is refused.
func (s *Sandbox) Notify(ctx context.Context, provider, account, refundNo, target string) (int, []byte, error) {
	if provider != adapters.Nomad && provider != adapters.PayEase {
		return 0, nil, fmt.Errorf("sandbox: notify: %s sends no notifies: %w", provider, ErrNoNotify)
	}
	now := s.now()
	s.mu.Lock()
	r := s.refunds[refundKey{provider, account, "", refundNo}]
	if r == nil {
		s.mu.Unlock()
		return 0, nil, fmt.Errorf("sandbox: notify: no %s/%s refund %q: %w", provider, account, refundNo, ErrInvalidRefund)
	}
	s.settleLocked(r, now)
	rf, ord := r.LedgerRefund, r.ord.snapshot()
	if target == "" {
		target = r.notifyURL
		if s.notifyURL != "" {
			target = s.notifyURL
		}
	}
	s.mu.Unlock()
	if rf.Status == adapters.StatusPending {
		return 0, nil, fmt.Errorf("sandbox: notify: refund %q is still pending: %w", refundNo, ErrNoNotify)
	}
	body, hdr, err := s.notifyMessage(rf, ord)
	if err != nil {
		return 0, nil, err
	}
	return s.post(ctx, target, body, hdr)
}

// notifyMessage renders the notify of rf in its provider's shape.
func (s *Sandbox) notifyMessage(rf LedgerRefund, ord order) ([]byte, http.Header, error) {
	hdr := http.Header{}
	switch rf.Provider {
	case adapters.PayEase:
		acc := s.accounts[acctKey{adapters.PayEase, rf.Account}]
		f := peRender(ord, rf)
		sig, err := peSign(s.platform, f)
		if err != nil {
			return nil, nil, err
		}
		f["hmac"] = sig
		b, ek, err := peSeal(acc.merchantPub, f)
		if err != nil {
			return nil, nil, err
		}
		hdr.Set("Content-Type", peContentType)
		hdr.Set("encryptKey", ek)
		hdr.Set("merchantId", rf.Account)
		return b, hdr, nil
	case adapters.Nomad:
		n := nomadRender(ord, rf)
		b, err := json.Marshal(map[string]string{"refundOrderRef": rf.RefundNo, "status": n.Status, "successTime": n.SuccessTime})
		hdr.Set("Content-Type", "application/json")
		return b, hdr, err
	}
	return nil, nil, fmt.Errorf("sandbox: %s sends no notifies: %w", rf.Provider, ErrNoNotify)
}

// post sends one notify to a loopback target; it gives up when the sandbox
// closes.
func (s *Sandbox) post(ctx context.Context, target string, body []byte, hdr http.Header) (int, []byte, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !loopbackHost(u.Hostname()) {
		return 0, nil, fmt.Errorf("sandbox: notify URL %q: %w", target, errNotLoopback)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = hdr
	resp, err := s.notifier.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, b, err
}

var errNotLoopback = errors.New("the sandbox calls loopback hosts only")

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
