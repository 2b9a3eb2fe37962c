#!/bin/sh
# render-pdf.sh renders the workbooks an auditor prints through LibreOffice,
# to PDF and to one PNG per page, so that a person can look at the pages:
#
#   results.xlsx and report.xlsx of the README's sample run (samples/refunds.xlsx
#   against the in-process sandbox), and exceptions-report.xlsx, the report of
#   the test fixture report/testdata/sample, which has every exception category.
#
# usage: scripts/render-pdf.sh [OUTDIR]     (default out/render)
#
# Needs LibreOffice (soffice) and, for PNG pages, poppler's pdftoppm:
#   apt-get install libreoffice-calc poppler-utils
# Without LibreOffice it says so and exits 0: it is for looking, not for CI.
set -eu
cd "$(dirname "$0")/.."
out=${1:-out/render}

if ! command -v soffice >/dev/null 2>&1; then
	echo "render-pdf: LibreOffice (soffice) is not installed; skipping." >&2
	echo "render-pdf: to render, install it: apt-get install libreoffice-calc poppler-utils" >&2
	exit 0
fi
mkdir -p "$out"
rm -f "$out"/*.xlsx "$out"/*.pdf "$out"/*.png "$out"/*.csv
# The sample run's state goes under OUTDIR, not the user's state directory.
state=$(cd "$out" && pwd)/state

# exit status 1 of both commands means "finished, with refunds that are
# not clean": the files are written, and are what is to be looked at.
tolerate1() {
	"$@" || { s=$?; [ "$s" -eq 1 ] || { echo "render-pdf: $* failed (exit $s)" >&2; exit "$s"; }; }
}

echo "render-pdf: the sample run (samples/refunds.xlsx against the sandbox)"
XDG_STATE_HOME="$state" tolerate1 go run ./cmd/bulkrefund run samples/refunds.xlsx --sandbox --yes --poll 10s --quiet \
	--results "$out/results.xlsx" --report "$out/report.xlsx"

echo "render-pdf: the fixture report (report/testdata/sample: every exception category)"
fx=report/testdata/sample
tolerate1 go run ./cmd/reconcile --results "$fx/results.csv" --statement "$fx/statement.csv" --orders "$fx/orders.csv" \
	--tz UTC --operator auditor -o "$out/exceptions-report.xlsx"

# A profile of its own: a LibreOffice already running for the user
# would otherwise take the conversion over, or lock it.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for x in results report exceptions-report; do
	soffice -env:UserInstallation="file://$profile" --headless --convert-to pdf --outdir "$out" "$out/$x.xlsx" >/dev/null
	if command -v pdftoppm >/dev/null 2>&1; then
		pdftoppm -r 80 -png "$out/$x.pdf" "$out/$x"
	fi
	pages=$(ls "$out/$x"-*.png 2>/dev/null | wc -l)
	echo "render-pdf: $out/$x.pdf ($pages PNG pages)"
done
command -v pdftoppm >/dev/null 2>&1 || echo "render-pdf: pdftoppm not found (poppler-utils): PDF only" >&2
