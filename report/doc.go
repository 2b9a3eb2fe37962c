// Package report reconciles the refunds we recorded against what the
// providers record, and writes the auditor's report (XLSX, CSV, JSON).
//
// Our side is the ledger (its batches), a per-batch state file of an
// earlier version or a results file (Ours); the provider side is statement
// files or live lookups (Theirs); the orders ledger (Order) gives order
// totals. Reconcile matches them on the refund's identity at the provider —
// provider + account (+ order, where the provider makes refund numbers
// unique per order, as Upay does) + refund number; a Upay revoke, which
// carries no refund number on the wire, on its order — and puts every
// record in exactly one Category:
//
//	sort both sides by (hash of match key, match key); walk them together
//	for each key:
//	    ours: records with equal amount and currency are one refund (the
//	          one that knows most wins); a different amount is DUPLICATE
//	    theirs: records with one provider refund id are one refund, counted
//	          once (the most final, then latest, wins; a changed amount is
//	          flagged); the best match pairs with ours, every other record
//	          is DUPLICATE
//	    decide(ours, theirs) by the table on decide, in order
//	pair what is left on each side by the provider refund id
//	per order a provider's answer gave the refunded total of: confirm the
//	    refunds it could not show one by one, or add an order-level row
//	sort rows by provider, account, order, currency, refund number
//	per order and currency: total (orders ledger, else the sheet's total),
//	    refunded per provider and per us, net; MATCHED refunds past the
//	    total → DUPLICATE
//	drop rows outside --from/--to (PENDING rows and exceptions still open
//	    from an earlier night stay); sum per category and currency, and per
//	    provider, account, currency and day
//	with a History: age every exception, list those that cleared
//
// Both sides are sorted rather than put in a map, so that a million refunds
// need no per-row map of strings; the hash (FNV-1a, unseeded) only makes the
// sort compare integers, and the report itself is sorted afterwards, so the
// same inputs always give the same rows in the same order. Records keep
// their text fields packed in one string each (see Ours), which is what
// keeps a million-row reconciliation near a gigabyte.
package report
