package batch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"

	"github.com/bulkrefund/bulkrefund/adapters"
	"github.com/bulkrefund/bulkrefund/adapters/registry"
)

// Item is one valid row of a refund sheet.
type Item struct {
	// Row is the row number as the spreadsheet shows it (1-based, header and
	// title rows counted), so that every message points where the user looks.
	Row int
	adapters.Refund
}

// Key identifies an item across runs, sheets and batches: the provider's
// own refund identity, in the scope the provider's documents make a refund
// number unique (per order for Upay, per account for the others).
//
// A Upay refund identified by the provider's order id (sn) alone is keyed
// by that sn, so that refunds of different orders never share a key.
func (it Item) Key() string {
	order := it.OrderNo
	if order == "" && it.ProviderOrderID != "" {
		order = "sn:" + it.ProviderOrderID
	}
	return registry.Key(it.Provider, it.Account, order, it.RefundNo)
}

// Identity is the batch's identity: a SHA-256 over the validated content of
// its items in sheet order. It ignores the file's name, format and
// cosmetic differences (a CSV and an XLSX of the same rows have the same
// identity), and changes when any field that reaches a provider changes.
func Identity(items []Item) string {
	h := sha256.New()
	for _, it := range items {
		writeField(h, it.Provider)
		writeField(h, it.Account)
		writeField(h, it.OrderNo)
		writeField(h, it.ProviderOrderID)
		writeField(h, it.RefundNo)
		writeInt(h, it.Amount)
		writeInt(h, it.Total)
		writeField(h, string(it.Currency))
		writeField(h, string(it.Action))
		writeField(h, it.Operator)
		writeField(h, it.Reason)
		writeField(h, it.PaymentMethod)
		writeField(h, it.NotifyURL)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField length-prefixes s so that no two field sequences hash alike.
func writeField(w io.Writer, s string) {
	writeInt(w, int64(len(s)))
	io.WriteString(w, s)
}

func writeInt(w io.Writer, v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	w.Write(b[:])
}
