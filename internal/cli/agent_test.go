package cli

import (
	"log/slog"
	"strings"
	"testing"
)

// TestAgentFlagsMatchOfficial checks the flags an eks-pod-identity-agent
// manifest passes are accepted with the official defaults.
func TestAgentFlagsMatchOfficial(t *testing.T) {
	cmd := newAgentCommand()
	for name, want := range map[string]string{
		"cluster-name":    "",
		"port":            "80",
		"bind-hosts":      "[169.254.170.23,[fd00:ec2::23]]",
		"probe-port":      "2703",
		"metrics-address": "0.0.0.0",
		"metrics-port":    "2705",
		"endpoint":        "",
		"max-cache-size":  "2000",
		"max-credential-retention-before-renewal": "3h0m0s",
		"max-service-qps":                         "3",
		"rotate-credentials":                      "false",
		"verbosity":                               "info",
	} {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			t.Errorf("no --%s flag", name)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, want)
		}
	}
	for short, long := range map[string]string{"c": "cluster-name", "p": "port", "b": "bind-hosts", "v": "verbosity"} {
		if f := cmd.Flags().ShorthandLookup(short); f == nil || f.Name != long {
			t.Errorf("-%s is not --%s", short, long)
		}
	}
	// A chart's argument list parses.
	args := []string{"--port", "80", "--cluster-name", "eks-workshop", "--probe-port", "2703", "-v", "trace",
		"-b", "169.254.170.23", "-b", "[fd00:ec2::23]", "--metrics-address", "0.0.0.0", "--metrics-port", "2705"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if got, _ := cmd.Flags().GetStringSlice("bind-hosts"); strings.Join(got, ",") != "169.254.170.23,[fd00:ec2::23]" {
		t.Errorf("bind hosts %v", got)
	}
}

func TestParseVerbosity(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"panic": slog.LevelError, "error": slog.LevelError, "warn": slog.LevelWarn,
		"info": slog.LevelInfo, "INFO": slog.LevelInfo, "trace": slog.LevelDebug, "debug": slog.LevelDebug,
	} {
		if got, err := parseVerbosity(in); err != nil || got != want {
			t.Errorf("parseVerbosity(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseVerbosity("loud"); err == nil {
		t.Error("accepted an unknown level")
	}
}

func TestAgentInitializeRejectsHostnames(t *testing.T) {
	cmd := newAgentCommand()
	cmd.SetArgs([]string{"initialize", "-b", "localhost"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("err = %v", err)
	}
}
