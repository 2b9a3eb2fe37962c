// Package report reconciles the refunds a run sent against what the
// providers record, and writes the auditor's report (XLSX, CSV, JSON).
//
// Our side is a run's checkpoint store or its results file (Ours); the
// provider side is statement files or live lookups (Theirs); the orders
// ledger (Order) gives order totals. Reconcile matches them on
// provider + account + refund number — for a Upay revoke, which carries no
// refund number on the wire, on provider + account + order number — and
// puts every record in exactly one Category:
//
//	sort both sides by (hash of match key, match key); walk them together
//	for each key:
//	    ours: records with equal amount and currency are one refund (the
//	          one that knows most wins); a different amount is DUPLICATE
//	    theirs: records with one provider refund id are one refund (the
//	          most final, then latest, wins); the best match pairs with
//	          ours, every other record is DUPLICATE
//	    decide(ours, theirs) by the table on decide, in order
//	sort rows by provider, account, order, currency, refund number
//	per order: total (orders ledger, else the sheet's total), refunded per
//	    provider and per us, net; MATCHED refunds past the total → DUPLICATE
//	drop rows outside --from/--to (PENDING rows stay); sum per category and
//	    currency, and per provider, account, currency and day
//
// Both sides are sorted rather than put in a map, so that a million refunds
// need no per-row map of strings; the hash (FNV-1a, unseeded) only makes the
// sort compare integers, and the report itself is sorted afterwards, so the
// same inputs always give the same rows in the same order. Records keep
// their text fields packed in one string each (see Ours), which is what
// keeps a million-row reconciliation near a gigabyte.
package report
