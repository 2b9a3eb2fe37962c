// Package workertest holds the end-to-end tests of `bulkrefund worker` and
// `bulkrefund run --via-workers`: the real binary, built once per test run,
// several worker processes on one PostgreSQL ledger (a throw-away database
// of the local server, see batch/store/pgtest), against a `bulkrefund
// sandbox` process over loopback, killed as an operating system would. It
// has no code of its own.
package workertest
