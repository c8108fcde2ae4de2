package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverha/drover/model"
	"golang.org/x/crypto/bcrypt"
)

// TestAgentCIM runs `drover agent` with the CIM face on loopback: REST
// and /metrics answer a viewer, nobody gets in without credentials, an
// operator drains the node through REST and the drain shows in `drover
// status`, and the audit log in the data dir records it.
func TestAgentCIM(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	var lines []string
	for _, u := range []struct{ name, role string }{{"olga", "operator"}, {"vera", "viewer"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.name+"-password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u.name+":"+u.role+":"+string(h))
	}
	if err := os.WriteFile(users, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, busAddr, data := freePort(t), freePort(t), filepath.Join(dir, "data")
	cfgFile := filepath.Join(dir, "drover.yaml")
	err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`node: web1
cluster: farm
data_dir: %s
bus:
  listen: %s
cim:
  listen: %s
  users_file: %s
`, data, busAddr, listen, users)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := startAgentProc(t, "--config", cfgFile)

	get := func(user, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		if user != "" {
			req.SetBasicAuth(user, user+"-password")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get("vera", "/cim/v1/DRV_Node")
		if code == 200 && strings.Contains(body, `"web1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /cim/v1/DRV_Node: %d %s\nagent log:\n%s", code, body, p.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _ := get("", "/cim/v1/DRV_Node"); code != 401 {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, body := get("vera", "/metrics"); code != 200 || !strings.Contains(body, `drover_node_up{node="web1"} 1`) {
		t.Errorf("/metrics: %d\n%.2000s", code, body)
	}

	post := func(user, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+listen+path, strings.NewReader(body))
		req.SetBasicAuth(user, user+"-password")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	drain := "/cim/v1/DRV_Node/web1/RequestStateChange"
	if code, body := post("vera", drain, `{"RequestedState":6}`); code != 403 {
		t.Errorf("a viewer's drain: %d %s, want 403", code, body)
	}
	code, body := post("olga", drain, `{"RequestedState":6}`)
	if code != 200 {
		t.Fatalf("an operator's drain: %d %s", code, body)
	}
	var res struct {
		ReturnValue uint32 `json:"ReturnValue"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.ReturnValue != 4096 {
		t.Errorf("drain answer %s (%v), want ReturnValue 4096", body, err)
	}
	waitStatus(t, []string{"--config", cfgFile}, func(v model.View) bool {
		for _, n := range v.Nodes {
			if n.Name == "web1" {
				return n.Drained
			}
		}
		return false
	})

	audit, err := os.ReadFile(filepath.Join(data, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(audit), "\n"); got != 2 || !strings.Contains(string(audit), `"user":"vera"`) ||
		!strings.Contains(string(audit), `"user":"olga"`) || !strings.Contains(string(audit), `"result":"denied"`) {
		t.Errorf("audit log:\n%s", audit)
	}
}
