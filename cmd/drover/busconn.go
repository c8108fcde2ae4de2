package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/cmd/drover/config"
)

// tlsConfig builds the client TLS settings for an external bus, or nil.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	if t == (config.TLS{}) {
		return nil, nil
	}
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("reading bus.external.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bus.external.tls.ca %s: no PEM certificates", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		kp, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("loading bus.external.tls.cert/key: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return tc, nil
}

// connectCLI connects a short-lived client to the bus the configuration
// names, with a plain error when nothing answers there.
func connectCLI(cfg *config.Config) (*nats.Conn, error) {
	cc := bus.ClientConfig{Name: "drover-cli", URLs: strings.Split(cfg.ClientURL(), ","), Timeout: 2 * time.Second}
	if len(cfg.Bus.External.URLs) > 0 {
		tc, err := tlsConfig(cfg.Bus.External.TLS)
		if err != nil {
			return nil, exitf(2, "%v", err)
		}
		cc.TLS, cc.Credentials = tc, cfg.Bus.External.Credentials
	}
	nc, err := bus.Connect(cc)
	if err != nil {
		return nil, exitf(1, "cannot reach the bus at %s: %v (is `drover agent` running there?)", cfg.ClientURL(), rootCause(err))
	}
	return nc, nil
}

// rootCause strips our own wrapping for a one-line message.
func rootCause(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "connecting to the bus") {
		return s[i+2:]
	}
	return s
}
