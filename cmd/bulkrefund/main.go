// Command bulkrefund validates refund sheets, runs them against the payment
// providers with durable checkpoints, reports where a batch stands, and
// serves the sandbox providers.
package main

import (
	"fmt"
	"io"
	"os"
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

type command struct {
	name, summary string
	run           func(e env, args []string) int
}

func commands() []command {
	return []command{
		{"validate", "check a refund sheet and list every invalid row", cmdValidate},
		{"run", "send a sheet's refunds to the providers, resumably", cmdRun},
		{"status", "show where a run's refunds stand", cmdStatus},
		{"sandbox", "serve emulators of all four providers on loopback", cmdSandbox},
		{"ledger", "import earlier state files into the ledger; back it up", cmdLedger},
	}
}

func main() {
	os.Exit(dispatch(env{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:]))
}

func dispatch(e env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "bulkrefund: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bulkrefund COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'bulkrefund COMMAND -h' for a command's flags.")
}
