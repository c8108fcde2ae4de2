package main

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Compare(t, *update, filepath.Join("testdata", name), got)
}

func servicesView() model.View {
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	return model.View{V: 1, Cluster: "farm", Observer: "dir1", Time: now, Manager: "wit1", Epoch: 7,
		Quorum: model.Quorum{Have: true, Present: 3, Voters: 3, Needed: 2},
		Services: []model.ServiceView{
			{Name: "web", Key: "TCP 192.0.2.50:80", Scheduler: "wrr", Persistence: "5m0s/24",
				Quorum: model.QuorumView{Have: true, HealthyWeight: 1, Needed: 1, RegainAt: 1}, Reason: "healthy weight 1, quorum 1", Since: now.Add(-time.Hour), Epoch: 7,
				RealServers: []model.RealServerView{
					{Address: "198.51.100.11:80", Forward: "nat", Weight: 1, Applied: 1, Healthy: true, Known: true, Reason: "up by dir1, dir2", Since: now.Add(-5 * time.Minute)},
					{Address: "198.51.100.12:80", Forward: "nat", Weight: 2, Applied: -1, Known: true, Reason: "dir1: connect: connection refused", Since: now.Add(-3 * time.Second)},
					{Address: "198.51.100.13:80", Forward: "nat", Weight: 3, Applied: 0, Admin: model.AdminQuiesced, Reason: "quiesced by an operator; not probed yet", Since: now.Add(-time.Second)},
					{Address: "198.51.100.99:80", Forward: "nat", Weight: 1, Applied: -1, Sorry: true, Healthy: true, Known: true, Reason: "sorry server: standing by", Since: now.Add(-time.Hour)},
				},
				Directors: []model.DirectorCounter{
					{Node: "dir1", At: now, Dests: []model.DestCounter{{Address: "198.51.100.11:80", Weight: 1, Active: 2, Inactive: 14, Stats: model.Counters{Connections: 400}}}},
					{Node: "dir2", At: now, Dests: []model.DestCounter{{Address: "198.51.100.11:80", Weight: 1, Active: 1, Stats: model.Counters{Connections: 20}}}},
				}},
			{Name: "mail", Key: "FWM 5", Scheduler: "sh", Flags: []string{"sh-port"},
				Quorum: model.QuorumView{HealthyWeight: 0, Needed: 1, RegainAt: 1}, SorryActive: false, Reason: "healthy weight 0 below quorum 1",
				RealServers: []model.RealServerView{
					{Address: "198.51.100.21:0", Forward: "dr", Weight: 1, Applied: -1, Known: true, Admin: model.AdminDisabled, Reason: "dir1: smtp: unexpected greeting \"HTTP/1.1 400 Bad Request\"", Since: now.Add(-20 * time.Second)},
				}},
		}}
}

// drover services reads like ipvsadm -Ln, with health and reasons.
func TestRenderServices(t *testing.T) {
	var b bytes.Buffer
	renderServices(&b, servicesView())
	goldenFile(t, "services.golden", b.Bytes())
}

func TestRenderStatusWithServices(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, servicesView())
	goldenFile(t, "status-services.golden", b.Bytes())
}
