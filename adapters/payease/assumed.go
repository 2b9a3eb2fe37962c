package payease

import (
	"strings"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
)

// Every fact about PayEase this client relies on that no public source
// states. Keep them here, so that correcting one is a one-line change.

const (
	pathRefund = "/icc/refund"
	// Assumed: the refund query endpoint, taking {merchantId, requestId}.
	pathRefundQuery = "/icc/refundQuery"

	contentType = "application/vnd.5upay-v3.0+json"
)

// Assumed: amount is sent and answered in fen (minor units) as a JSON
// number; the seed only says decimal(18). The answer's amount is read
// whether it is a number or a string. (See refundRequest.Amount.)

// Assumed (PayEase's error list is not public): codes naming our
// credentials or configuration (signature, keys, merchant, encryption, the
// envelope's content type), matched by substring: blocked, nothing about the
// refund judged. The sandbox's HMAC_ERROR, DECRYPT_ERROR, MERCHANT_NOT_EXIST
// and CONTENT_TYPE_ERROR land here.
var blockedMarkers = []string{"SIGN", "HMAC", "KEY", "MERCHANT", "DECRYPT", "AUTH", "CERT", "CONTENT_TYPE"}

// requestErrorMarkers: codes refusing the request as a whole, never a
// refund's "no record" (see isNotFound).
var requestErrorMarkers = append([]string{"PARAM"}, blockedMarkers...)

// Assumed: codes saying the requestId was used before (the sandbox's
// REQUEST_ID_REPEAT: another order or amount). The seed says a requestId
// "cannot repeat"; money may have moved under it, so the refund is already
// done for the runner to look up and compare, never "failed".
var alreadyDoneMarkers = []string{"REPEAT", "DUPLICATE", "CONFLICT"}

// Assumed: error codes of a server-side fault with unknown effect.
var systemErrorMarkers = []string{"SYSTEM", "BUSY", "INTERNAL", "TIMEOUT", "UNKNOWN"}

// codeKind classifies an error code. Everything not listed above refuses
// the refund itself (REFUND_AMOUNT_EXCEED, ORDER_NOT_EXIST, PARAM_ERROR): final.
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

// Assumed: error codes with which the query answers a requestId it has no
// record of.
var notFoundMarkers = []string{"NOT_FOUND", "NOT_EXIST", "NOTEXIST", "NO_RECORD"}

// Assumed: times ("yyyy-MM-dd HH:mm:ss") are Beijing time.
var chinaTime = time.FixedZone("CST", 8*3600)

// isNotFound: a not-found code that is not about the merchant or the
// request itself (MERCHANT_NOT_EXIST must never read as "no such refund":
// that would license a re-send).
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
