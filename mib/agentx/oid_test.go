package agentx

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOIDCompare(t *testing.T) {
	sorted := []string{"", "0", "1", "1.3", "1.3.6", "1.3.6.1.2.1", "1.3.6.1.2.1.1", "1.3.6.1.2.2", "1.3.6.1.10", "2", "4294967295"}
	var oids []OID
	for _, s := range sorted {
		oids = append(oids, mustOID(s))
	}
	shuffled := slices.Clone(oids)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, OID.Compare)
	if diff := cmp.Diff(oids, shuffled); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for i := range oids {
		for j := range oids {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := oids[i].Compare(oids[j]); got != want {
				t.Errorf("%s Compare %s = %d, want %d", oids[i], oids[j], got, want)
			}
		}
	}
}

func TestParseOID(t *testing.T) {
	for _, s := range []string{"1.3.x", "1..3", "1.3.4294967296", "-1"} {
		if o, err := ParseOID(s); err == nil {
			t.Errorf("ParseOID(%q) = %v, want an error", s, o)
		}
	}
	o, err := ParseOID(".1.3.6.1.4.1.99999")
	if err != nil || o.String() != "1.3.6.1.4.1.99999" {
		t.Errorf("ParseOID = %v, %v", o, err)
	}
	if !o.HasPrefix(mustOID("1.3.6")) || o.HasPrefix(mustOID("1.3.7")) || !o.HasPrefix(nil) {
		t.Error("HasPrefix")
	}
	a := o.Append(1)
	if a.String() != "1.3.6.1.4.1.99999.1" || o.String() != "1.3.6.1.4.1.99999" {
		t.Errorf("Append: %s, %s", a, o)
	}
}

func TestInRange(t *testing.T) {
	tests := []struct {
		oid  string
		r    SearchRange
		want bool
	}{
		{"1.3.6", SearchRange{Start: mustOID("1.3.6")}, false},
		{"1.3.6", SearchRange{Start: mustOID("1.3.6"), Include: true}, true},
		{"1.3.6.0", SearchRange{Start: mustOID("1.3.6")}, true},
		{"1.3.5.9", SearchRange{Start: mustOID("1.3.6"), Include: true}, false},
		{"9.9.9", SearchRange{Start: mustOID("1.3.6")}, true}, // null end: no bound
		{"1.3.7", SearchRange{Start: mustOID("1.3.6"), End: mustOID("1.3.7")}, false},
		{"1.3.6.99", SearchRange{Start: mustOID("1.3.6"), End: mustOID("1.3.7")}, true},
		{"1.3.6.99", SearchRange{Start: mustOID("1.3.6"), Include: true, End: mustOID("1.3.6")}, false},
	}
	for _, tc := range tests {
		if got := InRange(mustOID(tc.oid), tc.r); got != tc.want {
			t.Errorf("InRange(%s, %s) = %v, want %v", tc.oid, tc.r, got, tc.want)
		}
	}
}
