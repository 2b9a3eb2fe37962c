// Command mkfixtures writes the binary and non-UTF-8 fixtures of package
// sheet the way users make them: a workbook with a hidden first sheet,
// formulas and numeric ids; a GBK CSV with a title row; an encrypted
// workbook; a truncated one; a PDF renamed .xlsx.
//
// Run from batch/sheet: go run ./testdata/mkfixtures
package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func main() {
	must(workbook("testdata/formulas.xlsx", ""))
	// excelize writes a float with all its digits; Excel writes what it
	// keeps, 15-17 significant digits in exponent form. Store Excel's form.
	must(patchZip("testdata/formulas.xlsx", "xl/worksheets/sheet2.xml",
		"<v>4200001148202110000000000000</v>", "<v>4.20000114820211E+27</v>"))
	must(workbook("testdata/encrypted.xlsx", "x"))
	whole, err := os.ReadFile("testdata/formulas.xlsx")
	must(err)
	must(os.WriteFile("testdata/truncated.xlsx", whole[:len(whole)/2], 0o644))
	must(os.WriteFile("testdata/pdf_renamed.xlsx", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), 0o644))
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(gbkCSV))
	must(err)
	must(os.WriteFile("testdata/gbk_title.csv", gbk, 0o644))
	must(gaps("testdata/gaps.xlsx"))
	must(numericID("testdata/numeric_id.xlsx"))
	// excelize would write a NUL as U+FFFD; Excel writes the escape.
	must(patchZip("testdata/numeric_id.xlsx", "xl/sharedStrings.xml", "NUL-HERE", "_x0000_"))
	// Excel's "Unicode Text" export: UTF-16LE with a BOM, tab-separated, .txt.
	u16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(unicodeText))
	must(err)
	must(os.WriteFile("testdata/unicode_text.txt", u16, 0o644))
}

const unicodeText = "渠道\t门店编码\t订单号\t退款单号\t退款金额\t操作员\r\n" +
	"quickpay\tSH001\t20261101001\tSH001-R-1\t12.50\t王芳\r\n"

// gbkCSV is what WPS or Chinese Excel saves: a title row, Chinese headers,
// CRLF line ends, GBK bytes. Row 5 is invalid (operator longer than 16).
const gbkCSV = "2026年11月退款明细,,,,,,,,\r\n" +
	"渠道,门店编码,订单号,退款单号,退款金额,订单金额,类型,操作员,退款原因\r\n" +
	"quickpay,SH001,20261101001,SH001-R-1,12.50,100.00,退款,王芳,商品缺货\r\n" +
	"quickpay,SH001,20261101001,SH001-R-2,7.50,100.00,退款,王芳,部分退货\r\n" +
	"quickpay,SH002,20261101002,SH002-R-1,88.00,88.00,退款,财务部退款专员王芳芳芳芳芳芳芳芳芳,客户取消订单\r\n"

func workbook(path, password string) error {
	f := excelize.NewFile()
	defer f.Close()
	// A hidden instructions sheet first: the reader must skip it.
	if err := f.SetSheetName("Sheet1", "说明"); err != nil {
		return err
	}
	f.SetCellValue("说明", "A1", "填写说明：每行一笔退款")
	const s = "退款"
	if _, err := f.NewSheet(s); err != nil {
		return err
	}
	rows := [][]any{
		{"2026年11月退款明细"},
		{"渠道", "商户号", "订单号", "交易号", "退款单号", "退款金额(元)", "订单金额(元)", "操作员", "支付方式"},
		// 3: numeric order number (11 digits) and amounts as numbers.
		{"quickpay", "SH001", int64(20261101001), nil, "QR-1", 12.5, 100.0, "王芳"},
		// 4: formula amount: half the total, with its cached value.
		{"quickpay", "SH001", int64(20261101002), nil, "QR-2", excelize.Cell{Formula: "G4/2", Value: 44.0}, 88.0, "王芳"},
		// 5: a float artifact 0.1+0.2 that recovers to 0.30.
		{"nomad", "wechat.sh_smk", "NM-1", nil, "NR-1", artifact(), 10.0, nil, "alipay"},
		// 6: a long transaction id Excel turned into a number: precision lost.
		{"nomad", "wechat.sh_smk", "NM-2", 4.20000114820211e27, "NR-2", 1.0, 10.0, nil, "wechatpay"},
		// 7: a number with more decimals than CNY, as the user typed it.
		{"quickpay", "SH002", int64(20261101003), nil, "QR-3", 12.345, 100.0, "王芳"},
		// 8: an off-grid double: ambiguous, never rounded.
		{"quickpay", "SH002", int64(20261101004), nil, "QR-4", 12.34567891234567, 100.0, "王芳"},
		// 9: blank row, then 10: amount given as text with decoration.
		{},
		{"upay", "100000330000000001", "SQB1", "7894259244067218", "R1", "¥1,234.50", "2000", "张伟"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(s, cell, &r); err != nil {
			return err
		}
	}
	for i, r := range rows {
		for j, v := range r {
			if c, ok := v.(excelize.Cell); ok && c.Formula != "" {
				cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
				f.SetCellFormula(s, cell, c.Formula)
				f.SetCellValue(s, cell, c.Value) // the cached value Excel would have saved
				f.SetCellFormula(s, cell, c.Formula)
			}
		}
	}
	idx, _ := f.GetSheetIndex(s)
	f.SetActiveSheet(idx)
	if err := f.SetSheetVisible("说明", false); err != nil {
		return err
	}
	// A second visible sheet for --sheet.
	if _, err := f.NewSheet("QuickPay"); err != nil {
		return err
	}
	for i, r := range [][]any{
		{"provider", "account", "order_no", "refund_no", "refund_amount_fen", "operator"},
		{"quickpay", "SH001", "20261101009", "QR-9", 1250, "王芳"},
	} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("QuickPay", cell, &r); err != nil {
			return err
		}
	}
	var opts []excelize.Options
	if password != "" {
		opts = append(opts, excelize.Options{Password: password})
	}
	return f.SaveAs(path, opts...)
}

// patchZip rewrites one member of a zip archive with a string replaced.
func patchZip(path, member, old, new string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	found := false
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if f.Name == member {
			if !bytes.Contains(b, []byte(old)) {
				return fmt.Errorf("%s: %q not found", member, old)
			}
			b = bytes.ReplaceAll(b, []byte(old), []byte(new))
			found = true
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			return err
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s has no %s", path, member)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func artifact() float64 {
	a, b := 0.1, 0.2
	return a + b
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// gaps writes a sheet whose XML skips rows 3 and 4, as Excel does for
// rows never touched: row numbers must still be the sheet's.
func gaps(path string) error {
	f := excelize.NewFile()
	defer f.Close()
	for cell, r := range map[string][]any{
		"A1": {"provider", "account", "order_no", "refund_no", "refund_amount", "operator"},
		"A2": {"quickpay", "SH001", "1", "R1", 1.5, "op"},
		"A5": {"quickpay", "SH001", "2", "R2", 1.5, "operator-more-than-16"},
	} {
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			return err
		}
	}
	return f.SaveAs(path)
}

// numericID writes ids as Excel keeps them when a column was not formatted
// as Text: a 16-digit transaction id typed into a General cell is a number
// (Excel has cut it to 15 significant digits), its long sibling is stored
// in exponent form, and an 11-digit order number is a harmless number.
func numericID(path string) error {
	f := excelize.NewFile()
	defer f.Close()
	rows := [][]any{
		{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount", "operator"},
		// 2: ids as text: valid.
		{"upay", "100000330000000001", "SQB1", "7894259244067218", "R1", 1.5, "张伟"},
		// 3: a 16-digit id stored as a number: precision lost.
		{"upay", "100000330000000001", "SQB2", int64(7894259244067210), "R2", 1.5, "张伟"},
		// 4: its exponent-form sibling (patched below): precision lost.
		{"quickpay", "SH001", int64(20261101003), 4.20000114820211e27, "QR-3", 1.0, "王芳"},
		// 5: an 11-digit order number stored as a number: valid.
		{"quickpay", "SH001", int64(20261101001), nil, "QR-1", 2.0, "王芳"},
		// 6: a refund number with a NUL in it (Excel's _x0000_): refused.
		{"quickpay", "SH001", int64(20261101002), nil, "QR-NUL-HERE", 2.0, "王芳"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			return err
		}
	}
	if err := f.SaveAs(path); err != nil {
		return err
	}
	return patchZip(path, "xl/worksheets/sheet1.xml", "<v>4200001148202110000000000000</v>", "<v>4.20000114820211E+27</v>")
}
