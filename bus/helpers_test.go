package bus_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func fmtV(v any) string { return fmt.Sprintf("%v %+v %#v", v, v, v) }
