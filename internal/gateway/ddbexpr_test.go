package gateway

import (
	"errors"
	"reflect"
	"testing"
)

func TestExpressions(t *testing.T) {
	names := map[string]string{"#n": "name", "#d": "date", "#k": "pk"}
	cases := []struct {
		fn   string
		expr string
		want []string
		err  string // "syntax", "name" or ""
	}{
		{"projection", "a, b.c, #n[2].x, d[0]", []string{"a", "b", "name", "d"}, ""},
		{"projection", "  a  ", []string{"a"}, ""},
		{"projection", "a,,b", nil, "syntax"},
		{"projection", "a,", nil, "syntax"},
		{"projection", ":v", nil, "syntax"},
		{"projection", "#missing", nil, "name"},
		{"projection", "a; DROP", nil, "syntax"},
		{"update", "SET a = :v, #n = if_not_exists(#n, :z), l = list_append(l, :x) REMOVE r.s, t[1] ADD c :one DELETE s :set",
			[]string{"a", "name", "l", "r", "t", "c", "s"}, ""},
		{"update", "set a = b + :v", []string{"a"}, ""},
		{"update", "SET a[0].b = :v", []string{"a"}, ""},
		{"update", "a = :v", nil, "syntax"},
		{"update", "SET = :v", nil, "syntax"},
		{"update", "SET a = f(:v", nil, "syntax"},
		{"update", "SET a = :v,", nil, "syntax"},
		{"condition", "#k = :p AND begins_with(sk, :s) AND x.y > :z", []string{"pk", "sk", "x"}, ""},
		{"condition", "attribute_exists(a) OR NOT b IN (:x, :y) AND c BETWEEN :l AND :h", []string{"a", "b", "c"}, ""},
		{"condition", "#nope = :x", nil, "name"},
	}
	for _, c := range cases {
		var got []string
		var err error
		switch c.fn {
		case "projection":
			got, err = projectionNames(c.expr, names)
		case "update":
			got, err = updateNames(c.expr, names)
		case "condition":
			got, err = conditionNames(c.expr, names)
		}
		var ne *exprNameError
		switch {
		case c.err == "syntax" && !errors.Is(err, errExprSyntax):
			t.Errorf("%s %q: err %v, want a syntax error", c.fn, c.expr, err)
		case c.err == "name" && !errors.As(err, &ne):
			t.Errorf("%s %q: err %v, want an undefined name", c.fn, c.expr, err)
		case c.err == "" && (err != nil || !reflect.DeepEqual(got, c.want)):
			t.Errorf("%s %q = %v, %v; want %v", c.fn, c.expr, got, err, c.want)
		}
	}
}

func TestKeyConditionValue(t *testing.T) {
	names := map[string]string{"#p": "pk"}
	for _, c := range []struct{ expr, want string }{
		{"pk = :a", ":a"},
		{":a = pk", ":a"},
		{"#p = :a AND sk > :b", ":a"},
		{"sk = :b AND (pk = :a)", ":a"},
		{"pk.x = :a", ""},
		{"x.pk = :a", ""},
		{"pk[0] = :a", ""},
		{"pk > :a", ""},
		{"sk = :b", ""},
		{"pk = pk", ""},
	} {
		got, err := keyConditionValue(c.expr, "pk", names)
		if err != nil || got != c.want {
			t.Errorf("keyConditionValue(%q) = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
}
