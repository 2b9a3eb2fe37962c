package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/internal/cli"
)

// withSheet runs body on the sheet FILE given on the command line: the file
// itself, or for "-" a private copy of standard input (the XLSX reader needs
// a file it can seek in), named "stdin" in everything body prints and
// removed when body returns.
func withSheet(e env, cmd, arg string, body func(e env, path string) int) int {
	if arg != "-" {
		return body(e, arg)
	}
	path, cleanup, err := cli.SpoolStdin(e.stdin, cli.MaxStdin)
	defer cleanup()
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund %s: reading standard input: %v\n", cmd, err)
		return exitUsage
	}
	e.stdout = cli.Rename(e.stdout, path, cli.StdinName)
	e.stderr = cli.Rename(e.stderr, path, cli.StdinName)
	return body(e, path)
}

// sheetFiles completes a sheet FILE argument with CSV and XLSX files.
func sheetFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"csv", "xlsx"}, cobra.ShellCompDirectiveFilterFileExt
}
