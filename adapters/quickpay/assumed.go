package quickpay

import (
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Every fact about QuickPay this client relies on that no public source
// states. Keep them here, so that correcting one is a one-line change.

const (
	// Assumed: the refund query endpoint, with the SuNingPay sibling's shape
	// {store_no, order_no, refund_order_no}.
	pathRefund      = "/QuickPay/Refund"
	pathRefundQuery = "/QuickPay/RefundQuery"

	// Assumed: authentication is a per-store shared key; the signature is the
	// lowercase hex HMAC-SHA256 of the exact body bytes, in this header.
	signHeader = "X-QuickPay-Sign"

	// defaultOperator fills the required operator (1–16 chars) when the
	// sheet gave none.
	defaultOperator = "bulkrefund"
)

// Assumed (QuickPay's error codes are not public): codes naming our
// credentials or configuration (signature, key, store), matched by substring
// so that vendor spellings (INVALID_SIGN, SIGN_ERROR, AUTH_FAILED,
// STORE_NOT_EXIST) all land here: blocked, nothing about the refund judged.
var blockedMarkers = []string{"SIGN", "AUTH", "KEY", "STORE", "UNAUTHORIZED", "FORBIDDEN"}

// requestErrorMarkers: codes refusing the request as a whole, never a
// refund's "no record" (see isNotFound).
var requestErrorMarkers = append([]string{"PARAM"}, blockedMarkers...)

// Assumed: codes saying the refund number was used before (the sandbox's
// REFUND_NO_CONFLICT: another order or amount). QuickPay documents that a
// refund_no is unique per merchant and re-submitted unchanged after a
// failure, so money may have moved under it: already done, for the runner
// to look up and compare, never "failed".
var alreadyDoneMarkers = []string{"CONFLICT", "REPEAT", "DUPLICATE"}

// Assumed: codes naming a server-side fault of unknown effect.
var systemErrorMarkers = []string{"SYSTEM", "BUSY", "INTERNAL", "TIMEOUT", "UNKNOWN_ERROR"}

// codeKind classifies a non-SUCCESS code. Everything not listed above
// refuses the refund itself (REFUND_AMOUNT_EXCEEDED, ORDER_NOT_EXIST,
// PARAM_ERROR): final.
func codeKind(code string) adapters.Kind {
	switch {
	case hasMarker(code, systemErrorMarkers):
		return adapters.KindUnknown
	case hasMarker(code, blockedMarkers):
		return adapters.KindBlocked
	case hasMarker(code, alreadyDoneMarkers):
		return adapters.KindAlreadyDone
	}
	return adapters.KindFinal
}

// Assumed: codes with which RefundQuery answers a refund (or order) it has
// no record of.
var notFoundMarkers = []string{"NOT_FOUND", "NOT_EXIST", "NOTEXIST", "NO_RECORD"}

// isNotFound: a not-found code that is not about the store or the request
// itself (STORE_NOT_EXIST must never read as "no such refund": that would
// license a re-send).
func isNotFound(code string) bool {
	return hasMarker(code, notFoundMarkers) && !hasMarker(code, requestErrorMarkers)
}

func hasMarker(code string, markers []string) bool {
	code = strings.ToUpper(code)
	for _, m := range markers {
		if strings.Contains(code, m) {
			return true
		}
	}
	return false
}

// chinaTime reads refund_transaction_time when it carries no zone. Assumed:
// QuickPay reports Beijing time.
var chinaTime = time.FixedZone("CST", 8*3600)
