package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulkrefund/bulkrefund/internal/clitest"
)

// TestUserCommand: users are added with a role and a password from
// standard input, listed, refused with a weak password, an unknown role or
// a name taken; the password is never stored as given.
func TestUserCommand(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger.db")
	const pw = "a long enough password\n"
	r := clitest.Run(t, strings.NewReader(pw), nil, "user", "add", "Alice", "--role", "maker", "--ledger", ledger)
	if r.Code != exitOK || !strings.Contains(r.Stdout, "Added web user alice (maker)") {
		t.Fatalf("user add: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, tc := range []struct {
		args []string
		in   string
		want string
	}{
		{[]string{"user", "add", "bob", "--role", "boss"}, pw, "the role is one of"},
		{[]string{"user", "add", "bob", "--role", "checker"}, "short\n", "at least 12 characters"},
		{[]string{"user", "add", "alice", "--role", "checker"}, pw, "exists already"},
		{[]string{"user", "add", "bo b", "--role", "checker"}, pw, "a user name is"},
		{[]string{"user", "add", "bob"}, pw, "role"},
		{[]string{"user", "add", "bob", "--role", "checker"}, "", "no password"},
	} {
		r := clitest.Run(t, strings.NewReader(tc.in), nil, append(tc.args, "--ledger", ledger)...)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	r = clitest.Run(t, nil, nil, "user", "list", "--ledger", ledger)
	if r.Code != exitOK || !regexp.MustCompile(`(?m)^alice\s+maker\s`).MatchString(r.Stdout) || strings.Contains(r.Stdout, "bob") {
		t.Fatalf("user list: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	db, _ := os.ReadFile(ledger)
	if strings.Contains(string(db), strings.TrimSpace(pw)) || !strings.Contains(string(db), "$argon2id$") {
		t.Fatal("the ledger holds the password itself, or no argon2id hash")
	}
}

// TestServeCommand: serve starts on the address given, says where, serves
// the sign-in page with its security headers, lets a user in, and stops on
// SIGINT with exit 0.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.db")
	if r := clitest.Run(t, strings.NewReader("a long enough password\n"), nil, "user", "add", "dan", "--role", "admin", "--ledger", ledger); r.Code != exitOK {
		t.Fatalf("user add: %s", r.Stderr)
	}
	cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0", "--ledger", ledger, "--data", filepath.Join(dir, "data"))
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "Serving on ")
	if err != nil || !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line %q (%v)\n%s", line, err, stderr.String())
	}
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); rest <- string(b) }()

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("/login: %d %v", res.StatusCode, res.Header)
	}
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(body))
	if tok == nil {
		t.Fatal("no sign-in token")
	}
	res, err = hc.PostForm(base+"/login", url.Values{"csrf": {tok[1]}, "name": {"dan"}, "password": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "No batches yet") {
		t.Fatalf("signed in: %d\n%s", res.StatusCode, page)
	}

	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if s := <-rest; !strings.Contains(s, "No provider config") {
		t.Errorf("serve did not say it runs nothing without a config:\n%s", s)
	}
}
