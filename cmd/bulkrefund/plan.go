package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/bulkrefund/bulkrefund/money"
)

// writePlanTable prints the plan's rows and amounts per provider and
// currency, then a total per currency (amounts in different currencies are
// never added up), numbers right-aligned with thousands separators:
//
//	provider  currency  rows        amount
//	upay      CNY         58     12,345.67
//	payease   USD          3        250.00
//	total     CNY         58     12,345.67
//	total     USD          3        250.00
func writePlanTable(w io.Writer, byProvider []total) {
	sum := map[money.Currency]*total{}
	var currencies []money.Currency
	for _, t := range byProvider {
		c := sum[t.currency]
		if c == nil {
			c = &total{provider: "total", currency: t.currency}
			sum[t.currency] = c
			currencies = append(currencies, t.currency)
		}
		c.rows += t.rows
		c.amount += t.amount
	}
	sort.Slice(currencies, func(i, j int) bool { return currencies[i] < currencies[j] })
	lines := append([]total(nil), byProvider...)
	for _, c := range currencies {
		lines = append(lines, *sum[c])
	}

	cells := [][4]string{{"provider", "currency", "rows", "amount"}}
	for _, t := range lines {
		cells = append(cells, [4]string{t.provider, string(t.currency), groupInt(t.rows), money.FormatGrouped(t.amount, t.currency)})
	}
	var width [4]int
	for _, r := range cells {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for i, r := range cells {
		if i == len(byProvider)+1 && len(byProvider) > 0 {
			fmt.Fprintf(w, "  %s\n", strings.Repeat("-", width[0]+width[1]+width[2]+width[3]+6))
		}
		fmt.Fprintf(w, "  %-*s  %-*s  %*s  %*s\n", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3])
	}
}

// groupInt writes a count with thousands separators, as the amounts have.
func groupInt(n int) string {
	return message.NewPrinter(language.English).Sprintf("%d", n)
}

// confirmed reads one line of the operator's answer: only the word yes (in
// any case) sends; "y", a blank line or end of input do not, so money never
// leaves on a stray keystroke.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "yes")
}
