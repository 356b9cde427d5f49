package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/local"
)

// parsePodidCommand parses a `podid …` command line (plain words, no
// quoting) with podid's real subcommands and flags.
func parsePodidCommand(t *testing.T, line string) {
	t.Helper()
	root := &cobra.Command{Use: "podid"}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	words := strings.Fields(strings.TrimPrefix(line, "podid "))
	cmd, rest, err := root.Find(words)
	if err != nil || cmd == root {
		t.Fatalf("%q: no such podid command: %v", line, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
}

// TestExecHintsParse: every podid command exec's explanations print
// (broker and local mode, each refusal) exists with the flags it names.
func TestExecHintsParse(t *testing.T) {
	pod := local.Pod{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts"}
	errs := []local.AgentError{
		{Status: 404, Code: "ResourceNotFoundException", Message: "No Pod Identity Association found for cluster eks-workshop, namespace carts and service account carts."},
		{Status: 400, Code: "AccessDeniedException", Message: "AWS STS refused podid's broker: the trust policy does not allow sts:TagSession"},
		{Status: 400, Code: "AccessDeniedException", Message: "denied"},
		{Status: 400, Code: "AccessDeniedException", Message: "User: arn:aws:sts::210987654321:assumed-role/carts/eks-s is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/target"},
	}
	issuers := []local.CredentialIssuer{{AccountID: "123456789012"}, {AccountID: "210987654321", BrokerPrincipal: "arn:aws:iam::210987654321:user/podid-broker"}}
	cmdRE := regexp.MustCompile("(?m)(?:`|^\\s+)(podid [^`>\n]*)")
	seen := 0
	for _, iss := range issuers {
		for _, e := range errs {
			text := local.Explain(&e, pod, iss, local.Association{ID: "a-abcdefghijklmnopq", RoleARN: "arn:aws:iam::210987654321:role/carts",
				TargetRoleARN: "arn:aws:iam::210987654321:role/target", ExternalID: "us-west-2/210987654321/eks-workshop/carts/carts"})
			for _, m := range cmdRE.FindAllStringSubmatch(text, -1) {
				seen++
				parsePodidCommand(t, strings.TrimSpace(m[1]))
			}
		}
	}
	if seen < 2 {
		t.Fatalf("found %d podid commands in the explanations; the broker hints name podid trust-policy", seen)
	}
}
