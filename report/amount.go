package report

import (
	"errors"
	"math"
	"strings"

	"github.com/bulkrefund/bulkrefund/money"
)

var (
	errAmountSyntax    = errors.New("not a decimal number")
	errAmountDecimals  = errors.New("more decimals than the currency allows")
	errAmountNegative  = errors.New("negative amount")
	errAmountTooLarge  = errors.New("amount too large")
	errAmountNoCurency = errors.New("unknown currency, cannot place the decimals")
	// A sign is not guessed away: an export that writes refunds as negative
	// may also hold payments as positive rows, which must not become refunds.
	errStatementNegative = errors.New("negative amount: a statement gives each refund's amount as a positive number " +
		"(its type column says refund or revoke); if this export writes refunds as negative, " +
		"keep only its refund rows, remove the minus sign from this column, and run reconcile again")
)

// parseAmount reads exact decimal text as minor units of cur. With minor
// set, the text is already in minor units (a `_fen`/`_cents` column) and
// may carry no decimals. No float is involved, and extra decimals are an
// error rather than a rounding.
func parseAmount(s string, cur money.Currency, minor bool) (int64, error) {
	scale, ok := cur.Scale()
	if !ok {
		return 0, errAmountNoCurency
	}
	if minor {
		scale = 0
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, errAmountNegative
	}
	s = strings.TrimPrefix(s, "+")
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, errAmountSyntax
	}
	if hasDot && frac == "" && intPart == "" {
		return 0, errAmountSyntax
	}
	// Trailing zeros beyond the scale are exact ("12.500" CNY is 1250 fen).
	frac = strings.TrimRight(frac, "0")
	if len(frac) > scale {
		return 0, errAmountDecimals
	}
	var v int64
	for _, part := range []string{intPart, frac + strings.Repeat("0", scale-len(frac))} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, errAmountSyntax
			}
			if v > (math.MaxInt64-int64(c-'0'))/10 {
				return 0, errAmountTooLarge
			}
			v = v*10 + int64(c-'0')
		}
	}
	return v, nil
}

// major renders minor units as major-unit decimal text for CSV and JSON.
func major(minor int64, cur money.Currency) string { return money.Format(minor, cur) }
