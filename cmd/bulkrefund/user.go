package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/internal/cli"
	"github.com/bulkrefund/bulkrefund/web"
)

func newUserCmd(e env) *cobra.Command {
	var ledger, role string
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add and list the web server's users",
		Long: `Users of bulkrefund serve, kept in the ledger. Roles:

  maker    uploads and submits sheets, runs approved batches
  checker  approves or rejects batches others submitted
  auditor  reads everything, explains reconciliation exceptions
  admin    all of the above (never approves a batch of their own)

The password is asked twice at a terminal, or read as the first line of
standard input; only its argon2id hash is stored.`,
	}
	cmd.PersistentFlags().StringVar(&ledger, "ledger", "", "the ledger `PATH` (default: $BULKREFUND_LEDGER, else ~/.local/state/bulkrefund/ledger.db)")
	add := &cobra.Command{
		Use:     "add NAME --role maker|checker|auditor|admin",
		Short:   "Add a web user",
		Example: "  bulkrefund user add alice --role maker\n  printf '%s\\n' \"$PASSWORD\" | bulkrefund user add bob --role checker",
		Args:    cli.OneFile,
		RunE: func(_ *cobra.Command, args []string) error {
			return cli.Exit(cmdUser(e, "add", ledger, args[0], role))
		},
	}
	add.Flags().StringVarP(&role, "role", "r", "", "the user's `ROLE`: maker, checker, auditor or admin")
	add.MarkFlagRequired("role")
	add.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(web.Roles, cobra.ShellCompDirectiveNoFileComp))
	cmd.AddCommand(add, &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a web user's password (and sign them out everywhere)",
		Args:  cli.OneFile,
		RunE: func(_ *cobra.Command, args []string) error {
			return cli.Exit(cmdUser(e, "passwd", ledger, args[0], ""))
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List the web users and their roles",
		Args:  cli.NoArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			return cli.Exit(cmdUser(e, "list", ledger, "", ""))
		},
	})
	return cmd
}

func cmdUser(e env, sub, ledgerFlag, name, role string) int {
	errf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bulkrefund user "+sub+": "+format+"\n", a...) }
	ctx := context.Background()
	l, err := app.OpenLedger(ctx, app.LedgerSpec(ledgerFlag), false)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	defer l.Close()
	if sub == "list" {
		users, err := web.ListUsers(ctx, l)
		if err != nil {
			errf("%v", err)
			return exitUsage
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "name\trole\tadded")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.Created.Local().Format("2006-01-02 15:04"))
		}
		tw.Flush()
		return exitOK
	}
	if _, err := web.NormalizeName(name); err != nil {
		errf("%q: %v", name, err)
		return exitUsage
	}
	pw, err := readPassword(e, name)
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	by := app.Operator()
	if sub == "add" {
		err = web.AddUser(ctx, l, name, role, pw, by)
	} else {
		err = web.SetPassword(ctx, l, name, pw, by)
	}
	if err != nil {
		errf("%v", err)
		return exitUsage
	}
	if sub == "add" {
		fmt.Fprintf(e.stdout, "Added web user %s (%s) to %s.\n", strings.ToLower(strings.TrimSpace(name)), role, l.Where())
	} else {
		fmt.Fprintf(e.stdout, "Password of %s set; their sessions are ended.\n", name)
	}
	return exitOK
}

// readPassword asks twice at a terminal (without echo), else takes the
// first line of standard input.
func readPassword(e env, name string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "Password for %s (at least 12 characters): ", name)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input (give it as the first line, or run at a terminal)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
