// Package store keeps a run's checkpoints: every item of a batch with its
// state, attempts and the provider's last word, so that a run killed at any
// instant resumes without paying a refund twice or losing one.
//
// The Store interface is small on purpose (a PostgreSQL store shared by
// several workers is planned). Two implementations:
//
//   - SQLite (OpenSQLite): the default, one file per batch through the pure-Go
//     modernc.org/sqlite driver. The file is created 0600, runs in WAL mode
//     with synchronous=FULL, so a committed write survives SIGKILL and power
//     loss. Writers are group-committed: concurrent MarkSubmitting/Finish
//     calls share one transaction and one fsync, and each call returns only
//     after its transaction committed. So "submitting is durable before the
//     request leaves" holds while 64 workers cost ~1 fsync per batch of writes,
//     not one each. Finish is queued without waiting (a Finish lost in a crash
//     leaves the item submitting or unknown, which the next run looks up);
//     reads and Close wait for everything queued.
//   - Memory (NewMemory): no durability; for tests and to measure what the
//     durable store costs.
//
// # Schema (readable with the sqlite3 shell)
//
//	meta(batch_id, source_path, source_sha256, operator, host, tool_version,
//	     created TEXT RFC3339, items INTEGER)            -- exactly one row
//	items(seq INTEGER PRIMARY KEY,  -- position in the sheet, 0-based
//	      row INTEGER,              -- row number as the spreadsheet shows it
//	      key TEXT UNIQUE,          -- batch.Item.Key()
//	      provider, account, order_no, provider_order_id, refund_no,
//	      amount INTEGER, total INTEGER,  -- minor units
//	      currency, action, operator, reason, payment_method, notify_url,
//	      state TEXT,               -- planned|submitting|succeeded|failed|pending|unknown
//	      attempts INTEGER,         -- requests that left (refund sends, not lookups)
//	      first_attempt, last_attempt TEXT,  -- RFC3339Nano UTC, '' if none
//	      provider_refund_id, provider_code, provider_message,
//	      provider_amount INTEGER, provider_time TEXT,
//	      last_error TEXT)
//
// e.g. `sqlite3 STATE.db "select state, count(*), sum(amount) from items group by 1"`.
package store
