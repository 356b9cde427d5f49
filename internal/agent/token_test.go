package agent

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestParseToken(t *testing.T) {
	tok := func(header, payload string) string { return b64url(header) + "." + b64url(payload) + ".c2ln" }
	const hdr = `{"alg":"RS256","kid":"k"}`
	tests := []struct {
		name  string
		token string
		want  *claims
		err   string
	}{
		{"kubernetes claims", tok(hdr, `{"exp":2000000000,"nbf":1000000000,"sub":"system:serviceaccount:ns:sa","kubernetes.io":{"namespace":"ns","pod":{"name":"p","uid":"u"},"serviceaccount":{"name":"sa","uid":"s"}}}`),
			&claims{Namespace: "ns", ServiceAccount: "sa", PodUID: "u", Exp: 2000000000, Nbf: 1000000000}, ""},
		{"subject only", tok(hdr, `{"sub":"system:serviceaccount:team:app"}`), &claims{Namespace: "team", ServiceAccount: "app"}, ""},
		{"non-kubernetes subject", tok(hdr, `{"sub":"user:x"}`), &claims{}, ""},
		{"fractional dates", tok(hdr, `{"exp":2000000000.9,"iat":1.5e9}`), &claims{Exp: 2000000000}, ""},
		{"quoted number date", tok(hdr, `{"exp":"2000000000"}`), &claims{Exp: 2000000000}, ""},
		{"aud string", tok(hdr, `{"aud":"pods.eks.amazonaws.com"}`), &claims{}, ""},
		{"aud null", tok(hdr, `{"aud":null}`), &claims{}, ""},
		{"malformed kubernetes.io ignored", tok(hdr, `{"kubernetes.io":"x","sub":"system:serviceaccount:a:b"}`), &claims{Namespace: "a", ServiceAccount: "b"}, ""},
		{"padded segments", b64url(hdr) + "==." + b64url(`{}`) + "=.c2ln", &claims{}, ""},
		{"alg none", tok(`{"alg":"none"}`, `{}`), &claims{}, ""},
		{"alg missing", tok(`{"typ":"JWT"}`, `{}`), nil, "signing method (alg) is unspecified"},
		{"alg not a string", tok(`{"alg":5}`, `{}`), nil, "signing method (alg) is unspecified"},
		{"alg unknown", tok(`{"alg":"RS1"}`, `{}`), nil, "signing method (alg) is unavailable"},
		{"header array", tok(`[]`, `{}`), nil, "header is not a JSON object"},
		{"payload array", tok(hdr, `[1]`), nil, "claims are not a JSON object"},
		{"payload trailing garbage", tok(hdr, `{}x`), &claims{}, ""},
		{"exp bool", tok(hdr, `{"exp":true}`), nil, "claims are not a JSON object"},
		{"exp negative", tok(hdr, `{"exp":-5}`), nil, "exp: out of range"},
		{"exp huge", tok(hdr, `{"exp":1e300}`), nil, "exp: out of range"},
		{"sub number", tok(hdr, `{"sub":5}`), nil, "claims are not a JSON object"},
		{"aud number", tok(hdr, `{"aud":5}`), nil, "aud is neither"},
		{"aud mixed array", tok(hdr, `{"aud":["a",1]}`), nil, "aud is neither"},
		{"bad base64 header", "!!!." + b64url(`{}`) + ".c2ln", nil, "token is malformed"},
		{"base64 not decodable", "a." + b64url(`{}`) + ".c2ln", nil, "header: illegal base64"},
		{"four segments", tok(hdr, `{}`) + ".x", nil, "token is malformed"},
		{"empty", "", nil, "token is malformed"},
		{"whitespace", " " + tok(hdr, `{}`), nil, "token is malformed"},
		{"too long", strings.Repeat("a", MaxTokenBytes-4) + ".b.c", nil, "token is malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseToken(tc.token)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errTokenMalformed) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if *got != *tc.want {
				t.Errorf("got %+v, want %+v", *got, *tc.want)
			}
		})
	}
}

func TestClaimsValidAt(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	for _, tc := range []struct {
		c    claims
		want error
	}{
		{claims{}, nil},
		{claims{Exp: now.Unix() + 1}, nil},
		{claims{Exp: now.Unix()}, errTokenExpired}, // expired from its exp second on
		{claims{Nbf: now.Unix() + 60}, nil},        // leeway
		{claims{Nbf: now.Unix() + 61}, errTokenNotYet},
	} {
		if got := tc.c.validAt(now); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestTokenShape(t *testing.T) {
	for s, want := range map[string]bool{
		"a.b.c": true, "a=.b=.c=": true, "A-_0.x.y": true,
		"": false, "a.b": false, ".b.c": false, "a..c": false, "a.b.": false,
		"a.b.c.d": false, "a.b.c ": false, "a+b.c.d": false, "a/b.c.d": false, "a.b.\"c": false,
	} {
		if got := tokenShapeOK(s); got != want {
			t.Errorf("tokenShapeOK(%q) = %v", s, got)
		}
	}
}

// FuzzParseToken: never panics; whatever it accepts has the wire shape
// EKS Auth requires (so it embeds in JSON as is).
func FuzzParseToken(f *testing.F) {
	f.Add(podToken("ns", "sa", "uid", time.Unix(2e9, 0), "sig"))
	f.Add("eyJhbGciOiJub25lIn0.e30.c2ln")
	f.Add("a.b.c")
	f.Add(b64url(`{"alg":"RS256"}`) + "." + b64url(`{"kubernetes.io":{"pod":{"uid":5}}}`) + ".x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseToken(s)
		if err != nil {
			return
		}
		if !tokenShapeOK(s) {
			t.Fatalf("accepted a token of the wrong shape: %q", s)
		}
		_ = c.validAt(time.Now())
	})
}

// tokenShapeReference is tokenShapeOK as first written (a range test per
// byte), kept as FuzzTokenShape's reference for the table-driven scan.
func tokenShapeReference(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenBytes {
		return false
	}
	dots, segLen := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
			segLen++
		default:
			return false
		}
	}
	return dots == 2 && segLen > 0
}

// FuzzTokenShape: the table-driven shape check agrees with the reference
// on every input.
func FuzzTokenShape(f *testing.F) {
	f.Add(podToken("ns", "sa", "uid", time.Unix(2e9, 0), "sig"))
	for _, s := range []string{"a.b.c", "a..c", ".b.c", "a.b.", "a.b.c.d", "a=.b-.c_", "a.b.c\x00", "a.b.c\u00e9", "a b.c.d", "A.9.z/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := tokenShapeOK(s), tokenShapeReference(s); got != want {
			t.Fatalf("tokenShapeOK(%q) = %v, reference %v", s, got, want)
		}
	})
}

// BenchmarkTokenShape compares the table-driven shape check with its
// reference on a realistic 1.1 KB token, in the same run.
func BenchmarkTokenShape(b *testing.B) {
	tok := realisticToken(1, time.Now().Add(time.Hour))
	for _, bc := range []struct {
		name string
		fn   func(string) bool
	}{{"table", tokenShapeOK}, {"reference", tokenShapeReference}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if !bc.fn(tok) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestFastTokenPaths: the fast readers take kubelet's tokens and decline
// whatever encoding/json reads differently (case-folded or repeated keys,
// escapes, other types, trailing data), which then gets the encoding/json
// reading.
func TestFastTokenPaths(t *testing.T) {
	for _, tc := range []struct {
		payload string
		fast    bool
	}{
		{`{"exp":2000000000,"nbf":1000000000,"iat":1000000000,"aud":["a","b"],"iss":"https://x/y","jti":"j","sub":"system:serviceaccount:ns:sa","kubernetes.io":{"namespace":"ns","node":{"name":"n","uid":"x"},"pod":{"name":"p","uid":"u"},"serviceaccount":{"name":"sa","uid":"s"}},"extra":[1,{"a":[true,false,null]},-1.5e3]}`, true},
		{` { "aud" : "a" , "sub" : null , "kubernetes.io" : null } `, true},
		{`{"exp":null,"aud":[],"kubernetes.io":{"pod":null,"serviceaccount":{"name":null}}}`, true},
		{`{}`, true},
		{`{"Exp":2000000000}`, false},         // case-folded key: encoding/json matches it
		{`{"exp":1,"exp":2000000000}`, false}, // repeated key: the last wins there
		{`{"kubernetes.io":{"pod":{"uid":"a","UID":"b"}}}`, false},
		{`{"sub":"system:serviceaccount:n\u0073:sa"}`, false}, // escape
		{`{"exp":"2000000000"}`, false},                       // quoted number
		{`{"exp":-5}`, false},                                 // out of range: the error is worded there
		{`{"exp":01}`, false},
		{`{"aud":5}`, false},
		{`{"kubernetes.io":"x"}`, false},
		{`{"kubernetes.io":{"pod":5}}`, false},
		{`{}x`, false}, // trailing data
		{`null`, false},
		{``, false},
		{`{"a":"` + "\xff" + `"}`, false},
		{strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70), false}, // deeper than maxScanDepth
	} {
		c, ok := fastClaims([]byte(tc.payload))
		if ok != tc.fast {
			t.Errorf("fastClaims(%.60q) ok = %v, want %v", tc.payload, ok, tc.fast)
			continue
		}
		if !ok {
			continue
		}
		ref, err := payloadClaims([]byte(tc.payload))
		if err != nil || *ref != *c {
			t.Errorf("fastClaims(%.60q) = %+v, encoding/json reads %+v, %v", tc.payload, *c, ref, err)
		}
	}
	for hdr, want := range map[string]bool{
		`{"alg":"RS256","kid":"k","typ":"JWT"}`: true,
		`{"alg":"none"}`:                        true,
		`{"ALG":"RS256"}`:                       false,
		`{"alg":"RS256","alg":"none"}`:          false,
		`{"alg":5}`:                             false,
		`{"kid":"k"}`:                           false,
		`{"alg":"RS256"}x`:                      false,
	} {
		if _, ok := fastAlg([]byte(hdr)); ok != want {
			t.Errorf("fastAlg(%q) ok = %v, want %v", hdr, ok, want)
		}
	}
}

// FuzzFastTokenPaths: whatever the fast readers accept, encoding/json
// (golang-jwt's reading) accepts and reads the same way.
func FuzzFastTokenPaths(f *testing.F) {
	f.Add([]byte(`{"alg":"RS256","kid":"k"}`), []byte(`{"exp":2000000000,"sub":"system:serviceaccount:a:b","kubernetes.io":{"namespace":"ns","pod":{"uid":"u"},"serviceaccount":{"name":"sa"}}}`))
	f.Add([]byte(`{"alg":"none"}`), []byte(`{"aud":["x",null],"nbf":1.5e9,"kubernetes.io":null}`))
	f.Add([]byte(`{"Alg":"RS256"}`), []byte(`{"EXP":1,"exp":2}`))
	f.Add([]byte(` {"alg" :"RS256" } `), []byte(` {"iat": 0.5e1 ,"jti":"","x":{"y":[{}]}} `))
	f.Fuzz(func(t *testing.T, hdr, payload []byte) {
		if alg, ok := fastAlg(hdr); ok {
			ref, err := headerAlg(hdr)
			if err != nil || ref != alg {
				t.Fatalf("fastAlg(%q) = %q, encoding/json reads %q, %v", hdr, alg, ref, err)
			}
		}
		if c, ok := fastClaims(payload); ok {
			ref, err := payloadClaims(payload)
			if err != nil || *ref != *c {
				t.Fatalf("fastClaims(%q) = %+v, encoding/json reads %+v, %v", payload, *c, ref, err)
			}
		}
	})
}
