package payease_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/adaptertest"
	"github.com/bulkrefund/bulkrefund/adapters/payease"
	"github.com/bulkrefund/bulkrefund/adapters/sandbox"
)

func TestConformance(t *testing.T) {
	day := time.Now().Format("20060102")
	adaptertest.Run(t, adaptertest.Harness{
		Provider: adapters.PayEase, Account: "890000593", MayPend: true, AcceptedIsPending: true,
		OrderNo:       func(i int) string { return fmt.Sprintf("%s-890000593-%d", day, 1000+i) },
		ExhaustedCode: "REFUND_AMOUNT_EXCEED", OverRefundCode: "REFUND_AMOUNT_EXCEED", ConflictCode: "REQUEST_ID_REPEAT",
		New: func(base string, a sandbox.Account, timeout time.Duration) (adapters.Provider, error) {
			return payease.New(payease.Options{BaseURL: base, MerchantID: a.ID, MerchantPrivateKeyPEM: a.MerchantPrivateKeyPEM,
				PlatformPublicKeyPEM: a.PlatformPublicKeyPEM, NotifyURL: "https://notify.invalid/payease", Timeout: timeout})
		},
	})
}
