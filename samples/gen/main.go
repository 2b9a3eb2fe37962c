// Command gen writes the bundled samples: refunds.csv (English headers),
// refunds.xlsx (Chinese headers, a title row, numeric-cell ids, a formula
// amount and a float-artifact amount) holding the same refunds, and
// orders.csv, the orders those refunds belong to plus a few untouched ones.
//
// It is deterministic (fixed seed), so `go generate ./samples/gen` remakes
// byte-identical CSV files; every row it writes is valid.
package main

//go:generate go run . -out ..

import (
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/bulkrefund/bulkrefund/money"
	"github.com/xuri/excelize/v2"
)

type order struct {
	provider, account, orderNo, providerOrderID string
	total                                       int64
	paidAt, payMethod                           string
}

type refund struct {
	o                           *order
	refundNo                    string
	amount                      int64
	action                      string // refund | revoke
	operator, reason, notifyURL string
	// XLSX presentation
	numericOrderNo bool // the order number is stored as a number cell
	formulaHalf    bool // amount is =total/2, with its cached value
	artifact       bool // amount is 0.1+0.2 as a double
}

var (
	operators = []string{"张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "finance-ops"}
	reasons   = []string{"商品缺货", "客户取消订单", "重复支付", "商品质量问题", "部分退货", "运费退还", "价格调整补差", "七天无理由退货", "配送超时赔付"}
)

func main() {
	out := flag.String("out", "samples", "directory to write the samples to")
	flag.Parse()
	orders, refunds := build()
	must(writeOrders(filepath.Join(*out, "orders.csv"), orders))
	must(writeCSV(filepath.Join(*out, "refunds.csv"), refunds))
	must(writeXLSX(filepath.Join(*out, "refunds.xlsx"), refunds))
	fmt.Printf("%d orders, %d refunds\n", len(orders), len(refunds))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func build() ([]*order, []*refund) {
	rng := rand.New(rand.NewPCG(2026, 11))
	var orders []*order
	var refunds []*refund
	ages := []string{"now-240h", "now-72h", "now-480h", "now-30h", "now-720h", "now-168h"}
	methods := []string{"wechatpay", "alipay"}
	amount := func() int64 { return 1000 + rng.Int64N(199000) } // 10.00 – 2000.00

	// addOrder makes an order and 0–3 refunds on it, never more than its total.
	addOrder := func(o *order, n int) []*refund {
		orders = append(orders, o)
		var rs []*refund
		left := o.total
		for i := 1; i <= n; i++ {
			var a int64
			switch {
			case n == 1 && rng.IntN(3) == 0:
				a = o.total // a full refund
			case i == n:
				a = 1 + rng.Int64N(left) // at most what is left
			default:
				a = 1 + rng.Int64N(left/int64(n-i+1))
			}
			left -= a
			r := &refund{o: o, amount: a, action: "refund",
				operator: operators[rng.IntN(len(operators))], reason: reasons[rng.IntN(len(reasons))]}
			rs = append(rs, r)
		}
		refunds = append(refunds, rs...)
		return rs
	}
	counts := func() int { // 1 refund mostly, some 2–3 partial refunds
		switch x := rng.IntN(10); {
		case x < 6:
			return 1
		case x < 9:
			return 2
		default:
			return 3
		}
	}

	// Upay: client_sn, 16-digit sn, refund_request_no ≤ 20.
	for i := 1; i <= 52; i++ {
		term := "100000330000000001"
		if i%3 == 0 {
			term = "100000330000000002"
		}
		o := &order{provider: "upay", account: term, orderNo: fmt.Sprintf("SQB202611%05d", i),
			providerOrderID: fmt.Sprintf("78942592440%05d", 67000+i), total: amount(),
			paidAt: ages[rng.IntN(len(ages))], payMethod: methods[rng.IntN(2)]}
		n := counts()
		if i > 48 {
			n = 0 // untouched orders
		}
		for j, r := range addOrder(o, n) {
			r.refundNo = fmt.Sprintf("R%s-%d", o.orderNo[3:], j+1)
		}
	}
	// The one Upay revoke: paid an hour ago, revoked in full.
	rv := &order{provider: "upay", account: "100000330000000001", orderNo: "SQB20261121REV01",
		providerOrderID: "7894259244099001", total: 8800, paidAt: "now-1h", payMethod: "wechatpay"}
	orders = append(orders, rv)
	refunds = append(refunds, &refund{o: rv, refundNo: "RV20261121REV01", amount: rv.total, action: "revoke",
		operator: "张伟", reason: "顾客当日取消"})

	// QuickPay: purely numeric order numbers (stored as number cells in the XLSX).
	for i := 1; i <= 42; i++ {
		store := "SH001"
		if i%2 == 0 {
			store = "SH002"
		}
		o := &order{provider: "quickpay", account: store, orderNo: fmt.Sprintf("20261101%05d", 100+i),
			providerOrderID: fmt.Sprintf("QP4200%010d", 5550000+i), total: amount(),
			paidAt: ages[rng.IntN(len(ages))], payMethod: methods[rng.IntN(2)]}
		n := counts()
		if i > 38 {
			n = 0
		}
		for j, r := range addOrder(o, n) {
			r.refundNo = fmt.Sprintf("%s-%s-%d", store, o.orderNo, j+1)
			r.numericOrderNo = true
		}
	}
	// Nomad: orderRef, 28-digit transactionId, refundOrderRef, totalAmount required.
	for i := 1; i <= 40; i++ {
		o := &order{provider: "nomad", account: "wechat.sh_smk", orderNo: orderRef(i),
			providerOrderID: fmt.Sprintf("420000114820211102%010d", 556019250+i), total: amount(),
			paidAt: ages[rng.IntN(len(ages))], payMethod: methods[rng.IntN(2)]}
		n := counts()
		if i > 36 {
			n = 0
		}
		for j, r := range addOrder(o, n) {
			r.refundNo = fmt.Sprintf("r%03d%s", j+1, o.orderNo)
		}
	}
	// PayEase: orderRequestId yyyymmdd-merchantId-flow, requestId, notifyUrl.
	for i := 1; i <= 36; i++ {
		o := &order{provider: "payease", account: "890000593", orderNo: fmt.Sprintf("20261120-890000593-%d", 1000+i),
			providerOrderID: fmt.Sprintf("5U20261120%06d", 300000+i), total: amount(),
			paidAt: ages[rng.IntN(len(ages))], payMethod: methods[rng.IntN(2)]}
		n := counts()
		if i > 32 {
			n = 0
		}
		for j, r := range addOrder(o, n) {
			r.refundNo = fmt.Sprintf("PE20261120%04d%02d", 1000+i, j+1)
			r.notifyURL = "https://refunds.example.com/notify/payease"
		}
	}
	// Presentation quirks of the XLSX, on rows whose values allow them: one
	// formula amount (half of an even total) and one float artifact (0.30).
	for _, r := range refunds {
		if r.o.provider == "quickpay" && r.amount == r.o.total && r.o.total%2 == 0 && len(r.o.orderNo) > 0 {
			r.amount = r.o.total / 2
			r.formulaHalf = true
			break
		}
	}
	for _, r := range refunds {
		if r.o.provider == "nomad" && r.action == "refund" && r.amount == r.o.total {
			r.amount = 30
			r.artifact = true
			break
		}
	}
	return orders, refunds
}

func orderRef(i int) string { return fmt.Sprintf("NM20261102%04d", i) }

func writeOrders(path string, orders []*order) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"provider", "account", "order_no", "provider_order_id", "total_amount", "currency", "paid_at", "payment_method"})
	for _, o := range orders {
		w.Write([]string{o.provider, o.account, o.orderNo, o.providerOrderID, money.Format(o.total, money.CNY), "CNY", o.paidAt, o.payMethod})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var csvHeader = []string{"provider", "account", "order_no", "provider_order_id", "refund_no", "refund_amount",
	"total_amount", "currency", "action", "operator", "reason", "payment_method", "notify_url"}

var xlsxHeader = []string{"渠道", "商户号", "订单号", "交易号", "退款单号", "退款金额",
	"订单金额", "币种", "类型", "操作员", "退款原因", "支付方式", "通知地址"}

func writeCSV(path string, refunds []*refund) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(csvHeader)
	for _, r := range refunds {
		w.Write([]string{r.o.provider, r.o.account, r.o.orderNo, r.o.providerOrderID, r.refundNo,
			money.Format(r.amount, money.CNY), money.Format(r.o.total, money.CNY), "CNY", r.action,
			r.operator, r.reason, r.o.payMethod, r.notifyURL})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeXLSX(path string, refunds []*refund) error {
	x := excelize.NewFile()
	defer x.Close()
	const sheet = "退款明细"
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	bold, _ := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	head, _ := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	yuan, _ := x.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 2, TopLeftCell: "A3", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{excelize.Cell{StyleID: bold, Value: "2026年11月退款明细"}}); err != nil {
		return err
	}
	hdr := make([]any, len(xlsxHeader))
	for i, h := range xlsxHeader {
		hdr[i] = excelize.Cell{StyleID: head, Value: h}
	}
	if err := sw.SetRow("A2", hdr); err != nil {
		return err
	}
	for i, r := range refunds {
		row := i + 3
		var orderNo any = r.o.orderNo
		if r.numericOrderNo {
			var n int64
			fmt.Sscan(r.o.orderNo, &n)
			orderNo = n // a number cell, as Excel makes of a typed digit string
		}
		total := excelize.Cell{StyleID: yuan, Value: float64(r.o.total) / 100}
		amount := excelize.Cell{StyleID: yuan, Value: float64(r.amount) / 100}
		if r.formulaHalf {
			amount.Formula = fmt.Sprintf("G%d/2", row)
		}
		if r.artifact {
			tenth, fifth := 0.1, 0.2     // variables: constant arithmetic would be exact
			amount.Value = tenth + fifth // stored as 0.30000000000000004
		}
		action := "退款"
		if r.action == "revoke" {
			action = "撤单"
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, []any{r.o.provider, r.o.account, orderNo, r.o.providerOrderID, r.refundNo,
			amount, total, "CNY", action, r.operator, r.reason, r.o.payMethod, r.notifyURL}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return x.SaveAs(path)
}
