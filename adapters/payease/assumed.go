package payease

import (
	"strings"
	"time"
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

// Assumed: error codes naming a problem with the request as a whole
// (signature, encryption key, merchant, parameters), matched by substring.
var requestErrorMarkers = []string{"SIGN", "HMAC", "KEY", "MERCHANT", "PARAM", "DECRYPT", "AUTH", "CERT", "CONTENT_TYPE"}

// Assumed: error codes of a server-side fault with unknown effect.
var systemErrorMarkers = []string{"SYSTEM", "BUSY", "INTERNAL", "TIMEOUT", "UNKNOWN"}

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
