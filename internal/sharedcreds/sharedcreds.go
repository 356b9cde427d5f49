// Package sharedcreds reads and writes the [default] profile of an AWS
// shared-credentials file: the format in which podid hands access keys to
// people and components (DATA/root-credentials, the agent's and webhook's
// Secrets) and in which it reads keys given to it.
package sharedcreds

import (
	"errors"
	"strings"
)

// Key is an access key as a shared-credentials profile holds it.
type Key struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials only.
	SessionToken string
}

// ErrNoKey means the file has no [default] profile with both an access key
// ID and a secret.
var ErrNoKey = errors.New("no [default] aws_access_key_id and aws_secret_access_key")

// Format returns a shared-credentials file whose [default] profile is k.
func Format(k Key) []byte {
	var b strings.Builder
	b.WriteString("[default]\naws_access_key_id = ")
	b.WriteString(k.AccessKeyID)
	b.WriteString("\naws_secret_access_key = ")
	b.WriteString(k.SecretAccessKey)
	b.WriteString("\n")
	if k.SessionToken != "" {
		b.WriteString("aws_session_token = ")
		b.WriteString(k.SessionToken)
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// Parse reads the [default] profile of a shared-credentials file. Other
// profiles, comments and unknown settings are ignored, as the AWS SDKs do.
func Parse(data []byte) (Key, error) {
	var k Key
	section := ""
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || section != "default" {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(name) {
		case "aws_access_key_id":
			k.AccessKeyID = value
		case "aws_secret_access_key":
			k.SecretAccessKey = value
		case "aws_session_token":
			k.SessionToken = value
		}
	}
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return Key{}, ErrNoKey
	}
	return k, nil
}
