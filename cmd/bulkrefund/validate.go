package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bulkrefund/bulkrefund/adapters/config"
	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
	"github.com/bulkrefund/bulkrefund/internal/cli"
)

type validateFlags struct {
	sheet, errors, config string
	maxErrors             int
	noBOM                 bool
}

func newValidateCmd(e env) *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a refund sheet and list every invalid row; send nothing",
		Long: `Check a refund sheet (CSV or XLSX; - reads it from standard input) and list
every invalid row with its row, column, value and reason. Nothing is sent.

Exit: 0 every row valid, 1 some rows invalid, 2 bad usage or a file that
cannot be used.`,
		Example: `  bulkrefund validate refunds.xlsx --errors errors.xlsx
  some-export | bulkrefund validate -`,
		Args:              cli.OneFile,
		ValidArgsFunction: sheetFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Exit(withSheet(e, "validate", args[0], func(e env, path string) int { return cmdValidate(e, path, f) }))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sheet, "sheet", "", "XLSX sheet to read (default: the first visible sheet)")
	fl.StringVar(&f.errors, "errors", "", "write every invalid row, with row and error columns, to `OUT` (.xlsx, else CSV)")
	fl.IntVar(&f.maxErrors, "max-errors", 20, "print at most `N` error lines on stderr")
	fl.BoolVar(&f.noBOM, "no-bom", false, "write a CSV --errors file without the UTF-8 byte-order mark Excel needs to show Chinese text")
	fl.StringVarP(&f.config, "config", "c", "", "provider config `FILE`: fill blank cells from its accounts (PayEase notify_url); no credential is read")
	cmd.MarkFlagFilename("errors", "csv", "xlsx")
	cmd.MarkFlagFilename("config", "json")
	return cmd
}

// cmdValidate checks a refund sheet and lists every invalid row. Exit 0: all
// rows valid; 1: some rows invalid; 2: bad usage or an unusable file.
func cmdValidate(e env, path string, f validateFlags) int {
	sheetName, errorsOut, maxErrors, configPath, noBOM := &f.sheet, &f.errors, &f.maxErrors, &f.config, &f.noBOM
	if *maxErrors < 0 {
		fmt.Fprintln(e.stderr, "bulkrefund validate: --max-errors must be 0 or more")
		return exitUsage
	}
	if *errorsOut != "" && sameFile(path, *errorsOut) {
		fmt.Fprintf(e.stderr, "bulkrefund validate: --errors %s would overwrite the sheet being checked\n", *errorsOut)
		return exitUsage
	}

	log := sheet.NewErrorLog(*maxErrors)
	var ew *sheet.ErrorsWriter
	opts := sheet.Options{Sheet: *sheetName}
	if *configPath != "" {
		cfg, err := config.Parse(*configPath)
		if err != nil {
			fmt.Fprintf(e.stderr, "bulkrefund validate: %v\n", err)
			return exitUsage
		}
		opts.Defaults = cfg.Defaults
	}
	if *errorsOut != "" {
		opts.OnHeader = func(header []string) error {
			w, err := sheet.NewErrorsWriter(*errorsOut, header, sheet.ErrorsOptions{NoBOM: *noBOM})
			if err != nil {
				return fmt.Errorf("writing %s: %w", *errorsOut, err)
			}
			ew = w
			return nil
		}
	}
	onItem := func(batch.Item) error { return nil }
	onInvalid := func(cells []string, errs []*sheet.RowError) error {
		log.Add(errs)
		if ew != nil {
			if err := ew.Write(errs[0].Row, cells, errs); err != nil {
				return fmt.Errorf("writing %s: %w", *errorsOut, err)
			}
		}
		return nil
	}
	sum, err := sheet.Validate(path, opts, onItem, onInvalid)
	if ew != nil {
		if cerr := ew.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("writing %s: %w", *errorsOut, cerr)
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "bulkrefund validate: %v\n", err)
		return exitUsage
	}
	sheet.PrintReport(e.stdout, e.stderr, path, sum, log)
	if sum.Invalid > 0 {
		return exitFailures
	}
	return exitOK
}

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
