package main

import (
	"os"
	"testing"

	"github.com/bulkrefund/bulkrefund/internal/clitest"
)

// TestMain builds the command once for the tests that run it as a shell
// would (exit codes, streams, signals, a terminal).
func TestMain(m *testing.M) {
	os.Exit(clitest.Main(m, "bulkrefund"))
}

func binary(t *testing.T) string { return clitest.Binary(t) }
