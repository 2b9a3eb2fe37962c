// Package batch is the refund batch: the validated items of one sheet and
// the identity that ties a run's checkpoints to exactly that content.
//
// Subpackages do the work: sheet reads and validates CSV and XLSX sheets into
// Items; store keeps per-item checkpoints; runner sends the items to the
// providers.
package batch
