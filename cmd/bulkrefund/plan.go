package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bulkrefund/bulkrefund/app"
	"github.com/bulkrefund/bulkrefund/money"
)

// writePlanTable prints the plan's rows and amounts per provider, account
// and currency, then a total per currency (amounts in different currencies
// are never added up), numbers right-aligned with thousands separators:
//
//	provider  account  currency  rows     amount
//	upay      T1       CNY         58  12,345.67
//	payease   890      USD          3     250.00
//	-------------------------------------------
//	total              CNY         58  12,345.67
//	total              USD          3     250.00
func writePlanTable(w io.Writer, byAccount, byCurrency []app.Total) {
	cells := [][5]string{{"provider", "account", "currency", "rows", "amount"}}
	for _, t := range byAccount {
		cells = append(cells, [5]string{t.Provider, t.Account, string(t.Currency), money.Group(int64(t.Rows)), money.FormatGrouped(t.Amount, t.Currency)})
	}
	for _, t := range byCurrency {
		cells = append(cells, [5]string{"total", "", string(t.Currency), money.Group(int64(t.Rows)), money.FormatGrouped(t.Amount, t.Currency)})
	}
	var width [5]int
	for _, r := range cells {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for i, r := range cells {
		if i == len(byAccount)+1 && len(byAccount) > 0 {
			fmt.Fprintf(w, "  %s\n", strings.Repeat("-", width[0]+width[1]+width[2]+width[3]+width[4]+8))
		}
		fmt.Fprintf(w, "  %-*s  %-*s  %-*s  %*s  %*s\n", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3], width[4], r[4])
	}
}

// confirmed reads one line of the operator's answer: only the word yes (in
// any case) sends; "y", a blank line or end of input do not, so money never
// leaves on a stray keystroke.
func confirmed(r io.Reader) bool {
	line, _ := bufio.NewReader(r).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "yes")
}
