// Command bulkrefund validates refund sheets, runs them against the payment
// providers with durable checkpoints, reports where a batch stands,
// reconciles it, and serves the sandbox providers.
package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/internal/cli"
)

// Exit codes shared by every subcommand (and by cmd/reconcile).
const (
	exitOK          = 0   // all clean
	exitFailures    = 1   // finished, with invalid rows, failures or exceptions
	exitUsage       = 2   // bad usage or unreadable input
	exitInterrupted = 130 // stopped by a signal; the next run resumes
)

// env is what a subcommand may touch of the process, so tests can run
// subcommands in-process with their own streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	os.Exit(dispatch(env{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:]))
}

func dispatch(e env, args []string) int {
	return cli.Execute(context.Background(), newRootCmd(e), args, e.stdout, e.stderr)
}

func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "bulkrefund",
		Short: "Validate refund sheets, send them to the payment providers resumably, reconcile them",
		Long: `bulkrefund checks a refund sheet (CSV or XLSX), sends its refunds to Upay,
QuickPay, Samarkand Nomad and PayEase with checkpoints that survive any crash,
and reconciles what was sent against what the providers record.

Exit codes: 0 all clean, 1 invalid rows, failures, exceptions or pending
refunds, 2 bad usage or unreadable input (nothing sent), 130 interrupted.`,
	}
	cli.RequireCommand(root)
	root.AddCommand(newValidateCmd(e), newRunCmd(e), newStatusCmd(e), newSandboxCmd(e), newLedgerCmd(e), newWorkerCmd(e), cli.NewReconcileCmd("reconcile"),
		newSubmitCmd(e), newApproveCmd(e), newRejectCmd(e), newServeCmd(e), newUserCmd(e))
	cli.Setup(root, "bulkrefund")
	return root
}
