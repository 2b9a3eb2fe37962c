package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/bulkrefund/bulkrefund/batch/sheet"
)

// cmdValidate checks a refund sheet and lists every invalid row. Exit 0: all
// rows valid; 1: some rows invalid; 2: bad usage or an unusable file.
func cmdValidate(e env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	sheetName := fs.String("sheet", "", "XLSX sheet to read (default: the first visible sheet)")
	errorsOut := fs.String("errors", "", "write every invalid row, with row and error columns, to `OUT` (.xlsx, else CSV)")
	maxErrors := fs.Int("max-errors", 20, "print at most `N` error lines on stderr")
	noBOM := fs.Bool("no-bom", false, "write a CSV --errors file without the UTF-8 byte-order mark Excel needs to show Chinese text")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: bulkrefund validate FILE [--sheet NAME] [--errors OUT.csv|OUT.xlsx] [--max-errors N]")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(files) != 1 {
		fs.Usage()
		return exitUsage
	}
	if *maxErrors < 0 {
		fmt.Fprintln(e.stderr, "bulkrefund validate: --max-errors must be 0 or more")
		return exitUsage
	}
	path := files[0]
	if *errorsOut != "" && sameFile(path, *errorsOut) {
		fmt.Fprintf(e.stderr, "bulkrefund validate: --errors %s would overwrite the sheet being checked\n", *errorsOut)
		return exitUsage
	}

	log := sheet.NewErrorLog(*maxErrors)
	var ew *sheet.ErrorsWriter
	opts := sheet.Options{Sheet: *sheetName}
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

// parseInterspersed lets flags follow the file name, as users type them
// ("validate refunds.xlsx --errors out.xlsx"); flag.Parse alone stops at the
// first non-flag argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
