package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// notifyLocked sends a refund's final outcome to its notifyUrl in the
// background (best effort, 5s timeout, no retries). Only loopback URLs are
// called: the sandbox never reaches out of the machine, whatever a sheet says.
// Callers hold s.mu.
func (s *Sandbox) notifyLocked(r *refund) {
	if r.Status == adapters.StatusPending {
		return
	}
	u, err := url.Parse(r.notifyURL)
	if err != nil || !loopbackHost(u.Hostname()) {
		return
	}
	select {
	case <-s.closing:
		return
	default:
	}
	rf, ord, remark := r.LedgerRefund, r.ord.snapshot(), r.remark
	s.notifyWG.Add(1)
	go func() {
		defer s.notifyWG.Done()
		var body []byte
		hdr := http.Header{}
		switch rf.Provider {
		case adapters.PayEase:
			acc := s.accounts[acctKey{adapters.PayEase, rf.Account}]
			f := peRender(ord, rf)
			if remark != "" {
				f["remark"] = remark
			}
			sig, err := peSign(s.platform, f)
			if err != nil {
				return
			}
			f["hmac"] = sig
			b, ek, err := peSeal(acc.merchantPub, f)
			if err != nil {
				return
			}
			body = b
			hdr.Set("Content-Type", peContentType)
			hdr.Set("encryptKey", ek)
			hdr.Set("merchantId", rf.Account)
		case adapters.Nomad:
			n := nomadRender(ord, rf)
			body, _ = json.Marshal(map[string]string{"refundOrderRef": rf.RefundNo, "status": n.Status, "successTime": n.SuccessTime})
			hdr.Set("Content-Type", "application/json")
		default:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
			return
		}
		req.Header = hdr
		resp, err := s.notifier.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
