package sheet

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/money"
)

var rowSentinels = []error{
	ErrRequired, ErrTooLong, ErrBadFormat, ErrOutOfRange, ErrPrecisionLost, ErrUnknownProvider,
	ErrBadAction, ErrRevokeNotAllowed, ErrRevokeNotFull, ErrRevokeNotAlone, ErrDuplicateRefundNo,
	ErrOverRefund, ErrOrderConflict, ErrCurrency, ErrRagged, ErrMalformedRow, ErrControlChar,
	money.ErrEmptyAmount, money.ErrNotANumber, money.ErrTooManyDecimals, money.ErrNotPositive,
	money.ErrOverflow, money.ErrAmbiguousFloat, money.ErrUnknownCurrency,
}

var fileSentinels = []error{ErrUnreadable, ErrEmptyFile, ErrNoHeader, ErrMissingColumn, ErrDuplicateCol, ErrNoRows, ErrNoSuchSheet, ErrLimit}

// fuzzValidate writes data to a file named name and checks what Validate
// promises whatever the bytes: no panic, every error classified, counts
// that add up, and items that are plausible refunds.
func fuzzValidate(t *testing.T, name string, data []byte) {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	sum, err := Validate(path, Options{}, func(it batch.Item) error {
		valid++
		if it.Row <= 0 || it.Amount <= 0 || it.RefundNo == "" || it.Provider == "" || it.Currency == "" {
			t.Fatalf("implausible item %+v", it)
		}
		if it.Total > 0 && it.Amount > it.Total {
			t.Fatalf("item refunds more than its total: %+v", it)
		}
		return nil
	}, func(cells []string, errs []*RowError) error {
		invalid++
		if len(errs) == 0 {
			t.Fatal("invalid row without errors")
		}
		for _, e := range errs {
			ok := false
			for _, s := range rowSentinels {
				ok = ok || errors.Is(e, s)
			}
			if !ok || e.Row <= 0 {
				t.Fatalf("unclassified row error %v", e)
			}
		}
		return nil
	})
	if err != nil {
		ok := false
		for _, s := range fileSentinels {
			ok = ok || errors.Is(err, s)
		}
		if !ok {
			t.Fatalf("unclassified file error: %v", err)
		}
		return
	}
	if sum.Read != sum.Valid+sum.Invalid+sum.Blank || sum.Valid != valid || sum.Invalid != invalid {
		t.Fatalf("summary %+v, callbacks %d valid %d invalid", sum, valid, invalid)
	}
}

func addFixtures(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzReadCSV(f *testing.F) {
	addFixtures(f, "rules.csv", "gbk_title.csv", "semicolon.csv", "bom.csv", "ragged.csv", "header_only.csv")
	f.Add([]byte("provider,account,order_no,refund_no,refund_amount,operator\nquickpay,SH001,1,R1,1.00,op\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzValidate(t, "in.csv", data) })
}

func FuzzReadXLSX(f *testing.F) {
	addFixtures(f, "formulas.xlsx", "truncated.xlsx", "pdf_renamed.xlsx", "encrypted.xlsx", "gaps.xlsx", "numeric_id.xlsx")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzValidate(t, "in.xlsx", data) })
}
