package upay_test

import (
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
	"github.com/bulkrefund/bulkrefund/adapters/upay"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		Provider: adapters.Upay, Account: "100000330000000001", Revoke: true,
		ExhaustedCode: "UPAY_REFUND_INVALID_ORDER_STATE", ExhaustedKind: adapters.KindAlreadyDone,
		OverRefundCode: "REFUNDABLE_AMOUNT_NOT_ENOUGH", ConflictCode: "REFUND_REQUEST_NO_CONFLICT",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return upay.New(upay.Options{BaseURL: base, TerminalSN: a.ID, TerminalKey: a.Secret, Timeout: timeout})
		},
	})
}
