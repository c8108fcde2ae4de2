package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadCIM(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   testLoad
		want CIM
	}{
		{"off by default", testLoad{}, CIM{}},
		{"every key, paths from the file's directory", testLoad{file: "testdata/cim_full.yaml"}, CIM{
			Listen: "0.0.0.0:5989",
			TLS: CIMTLS{CertFile: "testdata/cim/cert.pem", KeyFile: "testdata/cim/key.pem",
				ClientCAFile: "testdata/cim/ca.pem"},
			UsersFile: "testdata/cim/users", AuditFile: "/var/log/drover/audit.log", MetricsPublic: true,
		}},
		{"loopback, plain HTTP, audit log in data_dir", testLoad{env: map[string]string{
			"DROVER_CIM_LISTEN": "127.0.0.1:5989", "DROVER_CIM_USERS_FILE": "testdata/cim/users",
		}}, CIM{Listen: "127.0.0.1:5989", UsersFile: "testdata/cim/users", AuditFile: "/var/lib/drover/audit.log"}},
		{"localhost", testLoad{env: map[string]string{
			"DROVER_CIM_LISTEN": "localhost:5989", "DROVER_CIM_USERS_FILE": "testdata/cim/users",
		}}, CIM{Listen: "localhost:5989", UsersFile: "testdata/cim/users", AuditFile: "/var/lib/drover/audit.log"}},
		{"plain HTTP allowed beyond loopback", testLoad{env: map[string]string{
			"DROVER_CIM_LISTEN": ":5988", "DROVER_CIM_USERS_FILE": "testdata/cim/users",
			"DROVER_CIM_ALLOW_PLAIN_HTTP": "true", "DROVER_CIM_AUDIT_FILE": "/srv/audit.log",
		}}, CIM{Listen: ":5988", AllowPlainHTTP: true, UsersFile: "testdata/cim/users", AuditFile: "/srv/audit.log"}},
		{"env over file", testLoad{file: "testdata/cim_full.yaml", env: map[string]string{
			"DROVER_CIM_LISTEN": "[::1]:5989", "DROVER_CIM_METRICS_PUBLIC": "false",
		}}, CIM{
			Listen: "[::1]:5989",
			TLS: CIMTLS{CertFile: "testdata/cim/cert.pem", KeyFile: "testdata/cim/key.pem",
				ClientCAFile: "testdata/cim/ca.pem"},
			UsersFile: "testdata/cim/users", AuditFile: "/var/log/drover/audit.log",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.in.load(t)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, c.CIM); diff != "" {
				t.Errorf("CIM (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCIMProblems(t *testing.T) {
	users := "testdata/cim/users"
	for _, tc := range []struct {
		name string
		in   testLoad
		want []string
	}{
		{"keys without a listener", testLoad{file: "testdata/cim_unused.yaml"}, []string{
			`testdata/cim_unused.yaml:4: cim.tls.cert_file: only applies with cim.listen`,
			`testdata/cim_unused.yaml:5: cim.tls.key_file: only applies with cim.listen`,
			`testdata/cim_unused.yaml:6: cim.tls.client_ca_file: only applies with cim.listen`,
			`testdata/cim_unused.yaml:7: cim.allow_plain_http: only applies with cim.listen`,
			`testdata/cim_unused.yaml:8: cim.users_file: only applies with cim.listen`,
			`testdata/cim_unused.yaml:9: cim.audit_file: only applies with cim.listen`,
			`testdata/cim_unused.yaml:10: cim.metrics_public: only applies with cim.listen`,
		}},
		{"file problems", testLoad{file: "testdata/cim_problems.yaml"}, []string{
			`testdata/cim_problems.yaml:3: cim.listen: "192.0.2.1:5989" is not a loopback address, so the CIM face needs TLS: ` +
				`set cim.tls.cert_file and cim.tls.key_file, or set cim.allow_plain_http: true to send passwords in clear`,
			`testdata/cim_problems.yaml:5: cim.tls.client_ca_file: "testdata/cim/missing.pem" does not exist`,
			`testdata/cim_problems.yaml:6: cim.users_file: testdata/cim/users_bad:2: user "bob": unknown role "boss": use viewer, operator or admin; ` +
				`testdata/cim/users_bad:4: user "carol": credential is neither a bcrypt hash ($2a$, $2b$, $2y$), token-sha256:HEX nor cert`,
			`testdata/cim_problems.yaml:8: cim.metrics_public: expected true or false, got a string`,
			`testdata/cim_problems.yaml:9: cim.certfile: unknown key`,
		}},
		{"listen not host:port", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": "5989", "DROVER_CIM_USERS_FILE": users}}, []string{
			`env DROVER_CIM_LISTEN: cim.listen: "5989" is not host:port`,
		}},
		{"no users file", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": "127.0.0.1:5989"}}, []string{
			`default: cim.users_file: missing: the CIM face needs a users file (drover cim passwd makes its lines)`,
		}},
		{"users file missing", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": "127.0.0.1:5989", "DROVER_CIM_USERS_FILE": "testdata/cim/nope"}}, []string{
			`env DROVER_CIM_USERS_FILE: cim.users_file: "testdata/cim/nope" does not exist`,
		}},
		{"cert without key", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": ":5989", "DROVER_CIM_USERS_FILE": users,
			"DROVER_CIM_TLS_CERT_FILE": "testdata/cim/cert.pem"}}, []string{
			`env DROVER_CIM_TLS_CERT_FILE: cim.tls.cert_file: needs cim.tls.key_file as well`,
		}},
		{"key without cert", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": ":5989", "DROVER_CIM_USERS_FILE": users,
			"DROVER_CIM_TLS_KEY_FILE": "testdata/cim/key.pem"}}, []string{
			`env DROVER_CIM_TLS_KEY_FILE: cim.tls.key_file: needs cim.tls.cert_file as well`,
		}},
		{"client CA without TLS", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": "127.0.0.1:5989", "DROVER_CIM_USERS_FILE": users,
			"DROVER_CIM_TLS_CLIENT_CA_FILE": "testdata/cim/ca.pem"}}, []string{
			`env DROVER_CIM_TLS_CLIENT_CA_FILE: cim.tls.client_ca_file: client certificates need TLS: set cim.tls.cert_file and cim.tls.key_file`,
		}},
		{"plain HTTP allowed with TLS", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": ":5989", "DROVER_CIM_USERS_FILE": users,
			"DROVER_CIM_TLS_CERT_FILE": "testdata/cim/cert.pem", "DROVER_CIM_TLS_KEY_FILE": "testdata/cim/key.pem",
			"DROVER_CIM_ALLOW_PLAIN_HTTP": "true"}}, []string{
			`env DROVER_CIM_ALLOW_PLAIN_HTTP: cim.allow_plain_http: only applies without TLS`,
		}},
		{"relative audit file from the environment", testLoad{env: map[string]string{"DROVER_CIM_LISTEN": "127.0.0.1:5989", "DROVER_CIM_USERS_FILE": users,
			"DROVER_CIM_AUDIT_FILE": "audit.log"}}, []string{
			`env DROVER_CIM_AUDIT_FILE: cim.audit_file: "audit.log" is not an absolute path`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.in.load(t)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load: %v, want problems", err)
			}
			got := strings.Split(ps.Error(), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
