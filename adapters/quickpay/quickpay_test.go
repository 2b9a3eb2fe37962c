package quickpay_test

import (
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/quickpay"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		Provider: adapters.QuickPay, Account: "SH001",
		ExhaustedCode: "REFUND_AMOUNT_EXCEEDED", OverRefundCode: "REFUND_AMOUNT_EXCEEDED", ConflictCode: "REFUND_NO_CONFLICT",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return quickpay.New(quickpay.Options{BaseURL: base, StoreNo: a.ID, StoreKey: a.Secret, Timeout: timeout})
		},
	})
}
