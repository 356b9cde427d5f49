package sharedcreds

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		file string
		want Key
		err  error
	}{
		{"podid's own output", "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n",
			Key{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t"}, nil},
		{"session token, no spaces, CRLF", "[default]\r\naws_access_key_id=ASIAX\r\naws_secret_access_key=s\r\naws_session_token=tok==\r\n",
			Key{AccessKeyID: "ASIAX", SecretAccessKey: "s", SessionToken: "tok=="}, nil},
		{"other profiles and comments ignored", "# keys\n[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = o\n[ default ]\n; the one\naws_access_key_id = AKIAD\nregion = us-west-2\naws_secret_access_key = d\n",
			Key{AccessKeyID: "AKIAD", SecretAccessKey: "d"}, nil},
		{"no trailing newline", "[default]\naws_access_key_id = A\naws_secret_access_key = B",
			Key{AccessKeyID: "A", SecretAccessKey: "B"}, nil},
		{"only another profile", "[prod]\naws_access_key_id = A\naws_secret_access_key = B\n", Key{}, ErrNoKey},
		{"secret missing", "[default]\naws_access_key_id = A\n", Key{}, ErrNoKey},
		{"keys before any profile", "aws_access_key_id = A\naws_secret_access_key = B\n", Key{}, ErrNoKey},
		{"empty", "", Key{}, ErrNoKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.file))
			if !errors.Is(err, c.err) || got != c.want {
				t.Fatalf("Parse = %+v, %v; want %+v, %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, k := range []Key{
		{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s+/=", SessionToken: "IQoJb3JpZ2luX2VjEA=="},
	} {
		got, err := Parse(Format(k))
		if err != nil || got != k {
			t.Fatalf("Parse(Format(%+v)) = %+v, %v", k, got, err)
		}
	}
	want := "[default]\naws_access_key_id = AKIAX\naws_secret_access_key = y\n"
	if got := string(Format(Key{AccessKeyID: "AKIAX", SecretAccessKey: "y"})); got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
}
