package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ConfigEnv names the provider config file when --config does not.
const ConfigEnv = "BULKREFUND_CONFIG"

// Config is the provider config file a command uses and where its name came
// from, to be printed so nobody wonders which accounts a run used.
type Config struct {
	Path   string
	Source string // "--config", "$BULKREFUND_CONFIG" or "user config directory"
}

func (c Config) String() string { return c.Path + " (from " + c.Source + ")" }

// FindConfig picks the provider config: the --config flag's value if given,
// else the file $BULKREFUND_CONFIG names, else config.json in the user's
// config directory ($XDG_CONFIG_HOME/bulkrefund, ~/.config/bulkrefund on
// Linux) if it exists. The zero Config means none was found. A file named by
// the variable must exist: a typo there is an error, not a silent fallback.
func FindConfig(flagValue string) (Config, error) {
	if flagValue != "" {
		return Config{flagValue, "--config"}, nil
	}
	if p := os.Getenv(ConfigEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return Config{}, fmt.Errorf("$%s=%s: %w", ConfigEnv, p, unwrapPath(err))
		}
		return Config{p, "$" + ConfigEnv}, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return Config{}, nil // no home to look in: no config
	}
	p := filepath.Join(dir, "bulkrefund", "config.json")
	if _, err := os.Stat(p); err == nil {
		return Config{p, "user config directory"}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("%s: %w", p, unwrapPath(err))
	}
	return Config{}, nil
}

// ConfigHint says where a config may be given, for a command that needs one.
const ConfigHint = "give --config FILE, set $" + ConfigEnv + ", or create $XDG_CONFIG_HOME/bulkrefund/config.json"

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
