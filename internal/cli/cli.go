// Package cli is what the bulkrefund and reconcile binaries share about being
// command-line tools: cobra commands set up alike (help on stdout, GNU-style
// flags, a usage mistake answered in one line with exit 2, --version and a
// version command, shell completion), provider config discovery, standard
// input as a sheet file, and the reconcile command itself, which both
// binaries run.
//
// Commands keep their bodies as functions returning an exit code; RunE turns
// that code into an ExitCode error and Execute turns it back, so there is one
// place that decides what reaches the shell.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of both binaries.
const (
	exitOK          = 0   // all clean
	exitExceptions  = 1   // finished with failures, exceptions or pending rows
	exitUsage       = 2   // bad usage or unreadable input; nothing was done
	exitInterrupted = 130 // stopped by a signal
)

// ExitCode ends the process with that code. A command returns it once it has
// said on stderr (or stdout) what happened, so Execute prints nothing more.
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// Exit turns a command body's exit code into what RunE returns.
func Exit(code int) error {
	if code == exitOK {
		return nil
	}
	return ExitCode(code)
}

// usageError is a mistake on the command line: Execute prints it as one line
// with a pointer to the command's help, and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Usagef reports a command-line mistake found by an Args check.
func Usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// Setup gives root and its subcommands the behaviour both binaries share:
// errors and usage are printed by Execute only (one line, never a usage
// dump), flag errors name the flag and what it wants, --version and a
// version command print the build, and cobra's completion command is
// generated. name is the binary's name as the user types it.
func Setup(root *cobra.Command, name string) {
	cobra.EnableCommandSorting = false
	root.Version = buildVersion(name)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and whether the tree was modified",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), root.Version)
			return nil
		},
	})
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		c.Flags().SortFlags = false
	}
}

// RequireCommand makes root answer a missing or unknown command: help on
// stdout and exit 2 for none, one line with the nearest command's name for a
// mistyped one.
func RequireCommand(root *cobra.Command) {
	root.SuggestionsMinimumDistance = 2
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return &usageError{msg}
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cmd.Help()
		return ExitCode(exitUsage)
	}
}

// NoArgs refuses positional arguments, naming the first.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unexpected argument %q", args[0])
	}
	return nil
}

// OneFile wants exactly one FILE argument.
func OneFile(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 1:
		return nil
	case 0:
		return Usagef("give the sheet FILE, or - for standard input")
	}
	return Usagef("one sheet FILE at a time, got %d: %s", len(args), strings.Join(args, " "))
}

// Execute runs root with args and returns the process's exit code. A usage
// mistake (unknown flag or command, a bad flag value, wrong arguments) is one
// line on stderr naming it, with the command's help to look at, and exit 2.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var code ExitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	// Anything else cobra hands back is about the command line: the flag
	// parser's errors come through flagError, argument checks through Usagef.
	path := root.Name()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v (see '%s --help')\n", path, err, path)
	return exitUsage
}

// flagError words pflag's errors for people: which flag, what was given,
// what it wants, and the nearest flag's name for a mistyped one.
func flagError(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	var invalid *pflag.InvalidValueError
	switch {
	case errors.As(err, &notExist):
		msg := err.Error()
		if notExist.GetSpecifiedShortnames() == "" { // a long flag, not -x
			if near := nearestFlag(cmd, notExist.GetSpecifiedName()); near != "" {
				msg += fmt.Sprintf("; did you mean --%s?", near)
			}
		}
		return &usageError{msg}
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		want := invalid.Unwrap().Error()
		switch f.Value.Type() {
		case "duration":
			want = "want a duration with a unit, such as 30s, 10m or 1h30m"
		case "int", "int64":
			want = "want a whole number"
		case "float64":
			want = "want a number, such as 0.05"
		case "bool":
			want = "want true or false"
		}
		return &usageError{fmt.Sprintf("--%s %q: %s", f.Name, invalid.GetValue(), want)}
	}
	return &usageError{err.Error()}
}

// nearestFlag is the name of cmd's flag closest to name, if it is close
// enough to be a typo (edit distance at most 2, or a prefix).
func nearestFlag(cmd *cobra.Command, name string) string {
	best, bestD := "", 3
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between two flag names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
