package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

type decideFlags struct {
	config, ledger, comment string
}

func newApproveCmd(e env) *cobra.Command {
	var f decideFlags
	cmd := &cobra.Command{
		Use:   "approve BATCH",
		Short: "Approve a batch someone else submitted, so that it may run",
		Long: `Record your approval of a submitted batch in the ledger's audit trail: who
(the operating-system user running this), when, and your comment. The
approval is bound to the batch's content: BATCH is the SHA-256 of its
validated rows, so a sheet with any change is another batch that needs its
own approval. You cannot approve a batch you submitted, a batch over the
limits, or a batch already approved or rejected.`,
		Example: `  bulkrefund approve 3f2a9c1e04b7d6a8 --comment "matches ticket FIN-2231"`,
		Args:    cli.OneFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(cmdDecide(e, app.ActionApproved, args[0], f))
		},
	}
	decideFlagsOn(cmd, &f)
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "provider config `FILE` whose limits the batch must be within (default: $BULKREFUND_CONFIG, else the user config directory's bulkrefund/config.json)")
	return cmd
}

func decideFlagsOn(cmd *cobra.Command, f *decideFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	fl.StringVarP(&f.comment, "comment", "m", "", "why: kept with the decision in the audit trail")
}

// cmdDecide approves or rejects a batch as the operating-system user.
func cmdDecide(e env, action, batchID string, f decideFlags) int {
	verb := map[string]string{app.ActionApproved: "approve", app.ActionRejected: "reject"}[action]
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund "+verb+": "+format+"\n", a...) }
	ctx := context.Background()
	var ctl *app.Controls
	if action == app.ActionApproved {
		var err error
		if ctl, err = findControls(f.config); err != nil {
			errf("%v", err)
			return exitUsage
		}
	}
	l, err := app.OpenLedgerExisting(ctx, app.LedgerSpec(f.ledger))
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer l.Close()
	st, err := app.Approvals(ctx, l, batchID)
	if err != nil {
		errf("%s", describeDecisionError(err))
		return exitUsage
	}
	if err := batchSummary(e.stdout, ctx, l, st); err != nil {
		errf("%v", err)
		return exitUsage
	}
	who := app.Operator()
	if action == app.ActionApproved {
		err = app.Approve(ctx, l, st.Meta.BatchID, who, f.comment, ctl)
	} else {
		err = app.Reject(ctx, l, st.Meta.BatchID, who, f.comment)
	}
	if err != nil {
		errf("%s", describeDecisionError(err))
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "%s by %s. Recorded in the audit trail of %s.\n", map[string]string{app.ActionApproved: "Approved", app.ActionRejected: "Rejected"}[action], who, l.Where())
	return exitOK
}
