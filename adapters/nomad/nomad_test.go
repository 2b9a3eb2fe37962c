package nomad_test

import (
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/nomad"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{
		Provider: adapters.Nomad, Account: "wechat.sh_smk", MayPend: true,
		ExhaustedCode: "REFUND_AMOUNT_EXCEEDED", OverRefundCode: "REFUND_AMOUNT_EXCEEDED", ConflictCode: "REFUND_ORDER_REF_CONFLICT",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return nomad.New(nomad.Options{BaseURL: base, Merchant: a.ID, APIKey: a.Secret, Timeout: timeout})
		},
	})
}
