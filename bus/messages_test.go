package bus

import (
	"errors"
	"testing"
)

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		dec  func([]byte) error
		in   string
		want error
	}{
		{"heartbeat not json", decHeartbeat, `{"v":1,`, ErrMalformed},
		{"heartbeat no version", decHeartbeat, `{"node":"a","boot":"b","interval_ms":100}`, ErrMalformed},
		{"heartbeat version 2", decHeartbeat, `{"v":2,"node":"a","boot":"b","interval_ms":100}`, ErrUnknownVersion},
		{"heartbeat version 2 garbage body", decHeartbeat, `{"v":2,"node":17}`, ErrUnknownVersion},
		{"heartbeat no node", decHeartbeat, `{"v":1,"boot":"b","interval_ms":100}`, ErrMalformed},
		{"heartbeat bad node", decHeartbeat, `{"v":1,"node":"a.b","boot":"b","interval_ms":100}`, ErrMalformed},
		{"heartbeat wrong type", decHeartbeat, `{"v":1,"node":"a","boot":"b","interval_ms":"fast"}`, ErrMalformed},
		{"heartbeat zero interval", decHeartbeat, `{"v":1,"node":"a","boot":"b","interval_ms":0}`, ErrMalformed},
		{"heartbeat manager without epoch", decHeartbeat, `{"v":1,"node":"a","boot":"b","interval_ms":100,"manager":true}`, ErrMalformed},
		{"heartbeat ok", decHeartbeat, `{"v":1,"node":"a","boot":"b","interval_ms":100,"manager":true,"epoch":3,"future":"ignored"}`, nil},
		{"leave no boot", decLeave, `{"v":1,"node":"a"}`, ErrMalformed},
		{"leave ok", decLeave, `{"v":1,"node":"a","boot":"x"}`, nil},
		{"lease no holder", decLease, `{"v":1,"boot":"x"}`, ErrMalformed},
		{"lease ok", decLease, `{"v":1,"holder":"a","boot":"x"}`, nil},
		{"record unknown state", decRecord, `{"v":1,"node":"a","state":"sleepy"}`, ErrMalformed},
		{"record no state", decRecord, `{"v":1,"node":"a"}`, ErrMalformed},
		{"record ok", decRecord, `{"v":1,"node":"a","state":"dead"}`, nil},
		{"status empty ok", decStatus, ``, nil},
		{"status v9", decStatus, `{"v":9}`, ErrUnknownVersion},
		{"view no observer", decView, `{"v":1,"cluster":"c"}`, ErrMalformed},
		{"view ok", decView, `{"v":1,"cluster":"c","observer":"o","nodes":[{"name":"o","state":"alive"}]}`, nil},
		{"view bad state", decView, `{"v":1,"cluster":"c","observer":"o","nodes":[{"name":"o","state":"zombie"}]}`, ErrMalformed},
		{"event no id", decEvent, `{"specversion":"1.0","source":"/x","type":"drover.node.dead","data":{"v":1}}`, ErrMalformed},
		{"event specversion 0.3", decEvent, `{"specversion":"0.3","id":"1","source":"/x","type":"drover.node.dead","data":{"v":1}}`, ErrUnknownVersion},
		{"event foreign type", decEvent, `{"specversion":"1.0","id":"1","source":"/x","type":"com.example.x","data":{"v":1}}`, ErrMalformed},
		{"event data v2", decEvent, `{"specversion":"1.0","id":"1","source":"/x","type":"drover.node.dead","data":{"v":2}}`, ErrUnknownVersion},
		{"event data not object", decEvent, `{"specversion":"1.0","id":"1","source":"/x","type":"drover.node.dead","data":"hi"}`, ErrMalformed},
		{"event ok", decEvent, `{"specversion":"1.0","id":"1","source":"/x","type":"drover.node.dead","data":{"v":1,"cluster":"c"}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.dec([]byte(tt.in))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func decHeartbeat(b []byte) error { _, err := DecodeHeartbeat(b); return err }
func decLeave(b []byte) error     { _, err := DecodeLeave(b); return err }
func decLease(b []byte) error     { _, err := DecodeLeaseValue(b); return err }
func decRecord(b []byte) error    { _, err := DecodeNodeRecord(b); return err }
func decStatus(b []byte) error    { _, err := DecodeStatusRequest(b); return err }
func decView(b []byte) error      { _, err := DecodeView(b); return err }
func decEvent(b []byte) error     { _, err := DecodeEvent(b); return err }

// fuzzDecoder checks that a decoder never panics and that whatever it
// accepts it can encode and accept again.
func fuzzDecoder[T any](f *testing.F, dec func([]byte) (T, error), seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := dec(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrUnknownVersion", err)
			}
			return
		}
		again, err := Encode(v)
		if err != nil {
			return // e.g. a time outside what JSON can carry; not a decoder bug
		}
		if _, err := dec(again); err != nil {
			t.Fatalf("re-decoding an accepted message failed: %v\n%s", err, again)
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	fuzzDecoder(f, DecodeHeartbeat,
		`{"v":1,"node":"a","boot":"b","seq":4,"sent":"2026-01-01T00:00:00Z","interval_ms":100,"quorum":true,"manager":true,"epoch":3}`,
		`{"v":2}`, `{"v":1,"node":"a"}`, `[]`, `null`)
}

func FuzzDecodeLeave(f *testing.F) {
	fuzzDecoder(f, DecodeLeave, `{"v":1,"node":"a","boot":"x","reason":"shutdown"}`, `{"v":"1"}`)
}

func FuzzDecodeLeaseValue(f *testing.F) {
	fuzzDecoder(f, DecodeLeaseValue, `{"v":1,"holder":"a","boot":"x","epoch":9,"acquired":"2026-01-01T00:00:00Z"}`)
}

func FuzzDecodeNodeRecord(f *testing.F) {
	fuzzDecoder(f, DecodeNodeRecord, `{"v":1,"node":"a","state":"left","since":"2026-01-01T00:00:00Z","epoch":2}`)
}

func FuzzDecodeStatusRequest(f *testing.F) {
	fuzzDecoder(f, DecodeStatusRequest, ``, `{"v":1}`)
}

func FuzzDecodeView(f *testing.F) {
	fuzzDecoder(f, DecodeView,
		`{"v":1,"cluster":"c","observer":"o","manager":"o","epoch":1,"quorum":{"have":true,"present":1,"voters":1,"needed":1},"nodes":[{"name":"o","state":"alive","heartbeat_age_ms":3}]}`)
}

func FuzzDecodeEvent(f *testing.F) {
	fuzzDecoder(f, DecodeEvent,
		`{"specversion":"1.0","id":"1","source":"/drover/c/nodes/a","type":"drover.node.dead","subject":"b","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","droverepoch":4,"data":{"v":1,"cluster":"c","node":"b","state":"dead"}}`)
}

func FuzzDecodeUDPHeartbeat(f *testing.F) {
	fuzzDecoder(f, DecodeUDPHeartbeat, `{"v":1,"c":"farm","n":"dir1","b":"5f1c","s":7}`, `{"v":1,"c":"a.b","n":"x","b":"y"}`)
}

func FuzzDecodeAssignments(f *testing.F) {
	fuzzDecoder(f, DecodeAssignments,
		`{"v":1,"epoch":3,"seq":9,"sent":"2026-01-01T00:00:00Z","groups":[{"group":"web","owner":"dir1","from":"dir2","reason":"x","since":"2026-01-01T00:00:00Z","pinned":true}]}`,
		`{"v":1,"epoch":0,"groups":[]}`)
}

func FuzzDecodeVIPRecord(f *testing.F) {
	fuzzDecoder(f, DecodeVIPRecord, `{"v":1,"epoch":3,"group":"web","owner":"dir1","reason":"x"}`)
}

func FuzzDecodeDesired(f *testing.F) {
	fuzzDecoder(f, DecodeDesired, `{"v":1,"drained":true,"at":"2026-01-01T00:00:00Z","by":"ops"}`, `{"v":1,"node":"dir2"}`,
		`{"v":1,"admin":"quiesced","by":"ops"}`, `{"v":1,"admin":"off"}`)
}

func FuzzDecodeHealthReport(f *testing.F) {
	fuzzDecoder(f, DecodeHealthReport,
		`{"v":1,"node":"dir1","sent":"2026-01-01T00:00:00Z","results":[{"id":"198.51.100.11:80/http/0a1b2c3d4e5f","healthy":true,"known":true,"reason":"http: 200","since":"2026-01-01T00:00:00Z"}]}`,
		`{"v":1,"node":"dir1","results":[{"id":""}]}`)
}

func FuzzDecodeServiceTable(f *testing.F) {
	fuzzDecoder(f, DecodeServiceTable,
		`{"v":1,"epoch":3,"seq":7,"services":[{"name":"web","protocol":"tcp","address":"192.0.2.10:80","scheduler":"wrr","dests":[{"address":"198.51.100.11:80","forward":"nat","weight":2}],"quorum":true,"healthy_weight":2}],"removed":["old"]}`,
		`{"v":1,"epoch":3,"services":[{"name":"fw","fwmark":5,"family":"inet6","scheduler":"sh","scheduler_flags":["sh-port"],"persist_timeout":300,"persist_netmask":64,"dests":[]}]}`,
		`{"v":1,"epoch":3,"services":[{"name":"x","address":"192.0.2.10:80","fwmark":5,"scheduler":"rr"}]}`)
}

func FuzzDecodeIPVSStats(f *testing.F) {
	fuzzDecoder(f, DecodeIPVSStats,
		`{"v":1,"node":"dir1","services":[{"name":"web","stats":{"connections":5,"cps":1},"dests":[{"address":"198.51.100.11:80","weight":1,"active":2,"inactive":3}]}]}`)
}
