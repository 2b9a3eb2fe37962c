// Package sheet reads a refund sheet (CSV or XLSX), finds its header, and
// validates every row into a batch.Item or a list of row errors.
//
// It streams: rows are read one at a time (encoding/csv for CSV; for XLSX
// its own reader, archive/zip and a small SpreadsheetML tokenizer, see
// xlsx.go and xmlscan.go), handed to the caller and dropped. The only
// state kept across rows is what the cross-row rules need, in compact form:
//
//	refunds: 64-bit hash of (provider, account, refund_no) → first row
//	orders:  64-bit hash of (provider, account, order)     → total, refunded so far, currency, first/total/revoke rows
//
// so memory grows with the number of orders and refunds (a few dozen bytes
// each), never with the number of cells.
//
// Two goroutines share the work: one reads rows and applies every rule
// that needs only its own row, in batches of at most 512 rows (fewer when
// rows are wide or long, so that batches in flight stay a few MB); the
// caller's goroutine applies the cross-row rules and runs the callbacks, in
// sheet order. Callbacks therefore see rows exactly as a sequential reader
// would.
//
// Every input is bounded as it streams (Limits): the file's size, each
// workbook part as it inflates and its compression ratio, the shared
// strings, XML tokens and nesting, cell length, columns, row length and
// rows. Only regular files (or "-", standard input) are read. An input past
// a limit ends reading with a *LimitError naming the file and the limit:
// a hostile file is refused in seconds and a few dozen MB.
//
// The XLSX reader sees cell types: an id stored as a number of 16 or more
// digits has lost digits and is refused (CheckID), as are control and
// invisible characters in ids. Table offers the same reader, limits and
// header matching to other packages (the report's statements).
//
// Rules are applied in sheet order, which makes them streaming-friendly and
// easy to explain: the row that reuses a refund number, or pushes an order
// over its total, or adds a refund to a revoked order, is the invalid one;
// earlier rows stay valid. Only valid rows feed the cross-row state, so an
// invalid row never makes a later row invalid.
//
// Row numbers are the spreadsheet's (1-based, title and header rows
// counted; a CSV record spanning lines is one row), and columns are named as
// the user wrote them, so that every message points where the user looks.
package sheet
