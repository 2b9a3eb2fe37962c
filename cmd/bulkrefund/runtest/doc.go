// Package runtest holds the end-to-end tests of `bulkrefund run` and
// `bulkrefund status`: the real binary, built once per test run, against a
// sandbox over loopback HTTP, killed and interrupted as a user or an
// operating system would. It has no code of its own.
package runtest
