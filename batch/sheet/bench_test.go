package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/batch"
	"github.com/xuri/excelize/v2"
)

// The benchmarks validate a 1,000,000-row CSV and a 1,048,576-row XLSX (the
// most rows a sheet can have, header included) and, in the same run, read
// the same files with the raw encoding/csv reader, excelize's row iterator
// (the XLSX reader this package used before) and this package's own XLSX
// reader alone as baselines. Peak RSS is measured in a child process (this test
// binary re-run with BENCH_CHILD set), so the parent's generator and
// baselines do not count.
//
//	go test -run '^$' -bench . -benchtime 1x ./batch/sheet
//
// The files are generated once into $TMPDIR/bulkrefund-bench (set
// BENCH_DIR to choose) and reused by later runs.

const (
	benchCSVRows  = 1_000_000
	benchXLSXRows = 1_048_576 - 1 // data rows under the header
)

var benchHeader = []string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount",
	"total_amount", "currency", "action", "operator", "reason", "payment_method", "notify_url"}

// benchRow makes row i: four providers in turn, two refunds per order.
func benchRow(i int) []string {
	o := i / 2
	amount := strconv.Itoa(1+o%500) + "." + strconv.Itoa(10+i%90)
	total := strconv.Itoa(1200+o%500) + ".00"
	switch o % 4 {
	case 0:
		return []string{"upay", "100000330000000001", "SQB" + strconv.Itoa(10000000+o), strconv.Itoa(7894259244000000 + o),
			"R" + strconv.Itoa(10000000+i), amount, total, "CNY", "refund", "张伟", "商品缺货", "", ""}
	case 1:
		return []string{"quickpay", "SH001", strconv.Itoa(20261101000000 + o), "",
			"QR" + strconv.Itoa(10000000+i), amount, total, "CNY", "refund", "王芳", "客户取消订单", "", ""}
	case 2:
		return []string{"nomad", "wechat.sh_smk", "NM" + strconv.Itoa(10000000+o), "4200001148202111020556" + strconv.Itoa(100000+o%900000),
			"NR" + strconv.Itoa(10000000+i), amount, total, "CNY", "refund", "", "部分退货", "wechatpay", ""}
	default:
		return []string{"payease", "890000593", "20261120-890000593-" + strconv.Itoa(1000000+o), "",
			"PE" + strconv.Itoa(10000000+i), amount, total, "CNY", "refund", "", "", "", "https://refunds.example.com/notify"}
	}
}

var (
	benchOnce  sync.Once
	benchFiles struct{ csv, xlsx string }
	benchErr   error
)

func benchData(b *testing.B) (csvPath, xlsxPath string) {
	b.Helper()
	benchOnce.Do(func() {
		dir := os.Getenv("BENCH_DIR")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "bulkrefund-bench")
		}
		if benchErr = os.MkdirAll(dir, 0o755); benchErr != nil {
			return
		}
		benchFiles.csv = filepath.Join(dir, "refunds-1000000.csv")
		benchFiles.xlsx = filepath.Join(dir, "refunds-1048576.xlsx")
		if _, err := os.Stat(benchFiles.csv); err != nil {
			if benchErr = writeBenchCSV(benchFiles.csv); benchErr != nil {
				return
			}
		}
		if _, err := os.Stat(benchFiles.xlsx); err != nil {
			benchErr = writeBenchXLSX(benchFiles.xlsx)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFiles.csv, benchFiles.xlsx
}

func writeBenchCSV(path string) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	w.Write(benchHeader)
	for i := 0; i < benchCSVRows; i++ {
		w.Write(benchRow(i))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// writeBenchXLSX uses excelize's StreamWriter, as a large export would:
// amounts are number cells, ids text.
func writeBenchXLSX(path string) error {
	x := excelize.NewFile()
	defer x.Close()
	sw, err := x.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	row := make([]any, len(benchHeader))
	for i, h := range benchHeader {
		row[i] = h
	}
	if err := sw.SetRow("A1", row); err != nil {
		return err
	}
	for i := 0; i < benchXLSXRows; i++ {
		cells := benchRow(i)
		for j, c := range cells {
			row[j] = c
		}
		for _, j := range []int{5, 6} { // amounts as numbers
			v, _ := strconv.ParseFloat(cells[j], 64)
			row[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := x.SaveAs(path + ".tmp.xlsx"); err != nil {
		return err
	}
	return os.Rename(path+".tmp.xlsx", path)
}

// The four workloads, shared by the benchmarks and the RSS child.
func rawCSV(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func rawXLSX(path string) (int, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetList()[0])
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if _, err := rows.Columns(excelize.Options{RawCellValue: true}); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Error()
}

// rawOurs reads every row with this package's XLSX reader alone.
func rawOurs(path string) (int, error) {
	src, err := openSource(path, "", DefaultLimits(), false)
	if err != nil {
		return 0, err
	}
	defer src.close()
	n := 0
	for {
		if _, _, _, err := src.next(); err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

func ourValidate(path string) (int, error) {
	sum, err := Validate(path, Options{}, func(batch.Item) error { return nil }, nil)
	if err == nil && sum.Invalid > 0 {
		err = fmt.Errorf("%d invalid rows", sum.Invalid)
	}
	return sum.Read + sum.HeaderRow, err
}

var workloads = map[string]func(string) (int, error){"raw-csv": rawCSV, "raw-xlsx": rawXLSX, "raw-ours": rawOurs, "validate": ourValidate}

func benchRun(b *testing.B, path string, work func(string) (int, error), workName string) {
	var rows int
	start := time.Now()
	for i := 0; i < b.N; i++ {
		n, err := work(path)
		if err != nil {
			b.Fatal(err)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(childPeakRSS(b, workName, path), "peak-RSS-MB")
}

// childPeakRSS runs one workload in a fresh process and returns its peak
// resident set size, read by the child from /proc/self/status (VmHWM).
// The child's rusage would not do: Go starts children with vfork, and Linux
// then charges the parent's resident memory to the child's ru_maxrss.
func childPeakRSS(b *testing.B, work, path string) float64 {
	b.StopTimer()
	defer b.StartTimer()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "BENCH_CHILD="+work, "BENCH_PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child %s: %v\n%s", work, err, out)
	}
	i := bytes.Index(out, []byte("VmHWM:"))
	if i < 0 {
		b.Fatalf("child %s reported no VmHWM:\n%s", work, out)
	}
	var kb float64
	if _, err := fmt.Sscan(string(out[i+len("VmHWM:"):]), &kb); err != nil {
		b.Fatalf("child %s: %v", work, err)
	}
	return kb / 1024
}

// TestBenchChild is the child process of childPeakRSS; it does nothing in
// a normal test run.
func TestBenchChild(t *testing.T) {
	work := os.Getenv("BENCH_CHILD")
	if work == "" {
		t.Skip("only run as a benchmark's child process")
	}
	n, err := workloads[work](os.Getenv("BENCH_PATH"))
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			t.Logf("%d rows; %s", n, line)
		}
	}
}

func BenchmarkCSV(b *testing.B) {
	csvPath, _ := benchData(b)
	b.Run("raw-encoding-csv", func(b *testing.B) { benchRun(b, csvPath, rawCSV, "raw-csv") })
	b.Run("validate", func(b *testing.B) { benchRun(b, csvPath, ourValidate, "validate") })
}

func BenchmarkXLSX(b *testing.B) {
	_, xlsxPath := benchData(b)
	b.Run("raw-excelize-rows", func(b *testing.B) { benchRun(b, xlsxPath, rawXLSX, "raw-xlsx") })
	b.Run("raw-our-reader", func(b *testing.B) { benchRun(b, xlsxPath, rawOurs, "raw-ours") })
	b.Run("validate", func(b *testing.B) { benchRun(b, xlsxPath, ourValidate, "validate") })
}
