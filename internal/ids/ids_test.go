package ids

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestGeneratorsFormat(t *testing.T) {
	tests := []struct {
		name     string
		gen      func() string
		pattern  string
		valid    func(string) bool
		alphabet string // every character of it must show up in 2,000 draws
	}{
		{"role", NewRoleID, `^AROA[A-Z2-7]{17}$`, IsRoleID, base32Alphabet},
		{"policy", NewPolicyID, `^ANPA[A-Z2-7]{17}$`, IsPolicyID, base32Alphabet},
		{"user", NewUserID, `^AIDA[A-Z2-7]{17}$`, IsUserID, base32Alphabet},
		{"access key", NewAccessKeyID, `^AKIA[A-Z2-7]{16}$`, IsAccessKeyID, base32Alphabet},
		{"secret key", NewSecretAccessKey, `^[A-Za-z0-9+/]{40}$`, IsSecretAccessKey,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"},
		{"association", NewAssociationID, `^a-[a-z0-9]{17}$`, IsAssociationID, lowerAlnum},
		{"uuid v4", NewUUID, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, IsUUIDv4, ""},
		{"uuid-like", NewUUIDLike, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, IsUUID, "0123456789abcdef-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := regexp.MustCompile(tt.pattern)
			const draws = 2000
			seen := make(map[string]bool, draws)
			chars := make(map[rune]bool)
			for range draws {
				id := tt.gen()
				if !re.MatchString(id) {
					t.Fatalf("%q does not match %s", id, tt.pattern)
				}
				if !tt.valid(id) {
					t.Fatalf("validator rejects generated %q", id)
				}
				if seen[id] {
					t.Fatalf("duplicate id %q", id)
				}
				seen[id] = true
				for _, c := range id[prefixLen(id):] {
					chars[c] = true
				}
			}
			for _, c := range tt.alphabet {
				if !chars[c] {
					t.Errorf("character %q never generated in %d draws", c, draws)
				}
			}
		})
	}
}

// prefixLen is the length of the fixed part of a generated ID.
func prefixLen(id string) int {
	switch {
	case strings.HasPrefix(id, "a-"):
		return 2
	case len(id) == UniqueIDLen || (len(id) == AccessKeyIDLen && strings.HasPrefix(id, "A")):
		return 4
	}
	return 0
}

func TestSecretAccessKeyCarries240Bits(t *testing.T) {
	b, err := base64.StdEncoding.DecodeString(NewSecretAccessKey())
	if err != nil || len(b) != 30 {
		t.Fatalf("decoded %d bytes, err %v; want 30", len(b), err)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		fn   func(string) bool
		name string
		in   string
		want bool
	}{
		// AWS documentation examples.
		{IsAccessKeyID, "IsAccessKeyID", "AKIAIOSFODNN7EXAMPLE", true},
		{IsAccessKeyID, "IsAccessKeyID", "AKIAI44QH8DHBEXAMPLE", true},
		{IsSessionAccessKeyID, "IsSessionAccessKeyID", "ASIAIOSFODNN7EXAMPLE", true},
		{IsSecretAccessKey, "IsSecretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true},
		{IsRoleID, "IsRoleID", "AROAXYZP66II6MSBPLOUU", true},
		{IsUserID, "IsUserID", "AIDACKCEVSQ6C2EXAMPLE", true},
		{IsPolicyID, "IsPolicyID", "ANPAJ2UCCR6DPCEXAMPLE", true},
		{IsAssociationID, "IsAssociationID", "a-8mvwvh57cu74mgcst", true},
		{IsAssociationID, "IsAssociationID", "a-abcdefghijklmnop1", true},
		{IsUUID, "IsUUID", "9ec6cfbd-8c9f-7ff4-fd26-640dda75bcea", true},
		{IsUUIDv4, "IsUUIDv4", "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb", true},

		// Wrong prefix, length or characters.
		{IsAccessKeyID, "IsAccessKeyID", "ASIAIOSFODNN7EXAMPLE", false},
		{IsAccessKeyID, "IsAccessKeyID", "AKIAIOSFODNN7EXAMPL", false},
		{IsAccessKeyID, "IsAccessKeyID", "AKIAIOSFODNN7EXAMPLEX", false},
		{IsAccessKeyID, "IsAccessKeyID", "AKIAiosfodnn7example", false},
		{IsAccessKeyID, "IsAccessKeyID", "", false},
		{IsSessionAccessKeyID, "IsSessionAccessKeyID", "AKIAIOSFODNN7EXAMPLE", false},
		{IsSessionAccessKeyID, "IsSessionAccessKeyID", "ASIAIOSFODNN7EXAMP-E", false},
		{IsSecretAccessKey, "IsSecretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE", false},
		{IsSecretAccessKey, "IsSecretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEK==", false},
		{IsSecretAccessKey, "IsSecretAccessKey", "wJalrXUtnFEMI-K7MDENG_bPxRfiCYEXAMPLEKEY", false},
		{IsRoleID, "IsRoleID", "AIDACKCEVSQ6C2EXAMPLE", false},
		{IsRoleID, "IsRoleID", "AROAXYZP66II6MSBPLOU", false},
		{IsUserID, "IsUserID", "AROAXYZP66II6MSBPLOUU", false},
		{IsPolicyID, "IsPolicyID", "ANPAJ2UCCR6DPCEXAMPL\u00c9", false},
		{IsAssociationID, "IsAssociationID", "a-8MVWVH57CU74MGCST", false},
		{IsAssociationID, "IsAssociationID", "a-8mvwvh57cu74mgcs", false},
		{IsAssociationID, "IsAssociationID", "b-8mvwvh57cu74mgcst", false},
		{IsAssociationID, "IsAssociationID", "a-8mvwvh57cu74mgcs_", false},
		{IsUUID, "IsUUID", "9EC6CFBD-8C9F-7FF4-FD26-640DDA75BCEA", false},
		{IsUUID, "IsUUID", "9ec6cfbd8c9f7ff4fd26640dda75bcea", false},
		{IsUUID, "IsUUID", "9ec6cfbd-8c9f-7ff4-fd26-640dda75bceg", false},
		{IsUUIDv4, "IsUUIDv4", "9ec6cfbd-8c9f-7ff4-fd26-640dda75bcea", false},
		{IsUUIDv4, "IsUUIDv4", "5af5e7ac-5754-49ea-c28f-2c2a2eb95fbb", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
