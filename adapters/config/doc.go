// Package config loads the provider configuration file: which provider
// accounts exist, where their APIs are, how fast they may be called, and
// where their credentials are kept.
//
// Credentials are never written in the file. An account names them by
// reference — an environment variable (secret_env), a file (secret_file), or
// for PayEase two PEM files (private_key_file, platform_public_key_file) — and
// Load resolves every reference at once, so that a missing variable or an
// unreadable key stops the program before a single refund is sent. Resolved
// secrets live in a Secret, which prints, logs and marshals as [REDACTED];
// error messages name the variable or the file, never the value.
//
// The file format is documented in docs/config.md; samples/providers.example.json
// is a complete example.
package config
