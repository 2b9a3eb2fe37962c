package main

import (
	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

func newRejectCmd(e env) *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "reject BATCH --comment TEXT",
		Short: "Reject a submitted batch, saying why; it never runs",
		Long: `Record your rejection of a submitted batch in the ledger's audit trail: who
(the operating-system user running this), when, and why (--comment, required).
A rejected batch never runs; the corrected sheet is another batch (its rows,
hence its id, differ) to submit again.`,
		Example: `  bulkrefund reject 3f2a9c1e04b7d6a8 --comment "row 88 refunds the wrong order"`,
		Args:    cli.OneFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(cmdDecide(e, app.ActionRejected, args[0], f))
		},
	}
	decideFlagsOn(cmd, &f)
	cmd.MarkFlagRequired("comment")
	return cmd
}
