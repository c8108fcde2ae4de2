package cim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// FileAuditor appends audit entries to a file, one JSON object a line:
//
//	{"time":"2026-11-22T10:00:00.123456789Z","user":"alice","source":"192.0.2.7:51234","action":"DRV_Node.RequestStateChange(6)","target":"root/drover:DRV_Node.Name=\"dir2\"","result":"4096"}
//
// Each entry is written with one write(2) on a file opened with O_APPEND,
// so lines never interleave, and synced to disk before Record returns:
// state changes are rare, and an entry that was not recorded must stop
// the change. For logrotate, rename the file and call Reopen (the agent
// does on SIGHUP), or use copytruncate.
type FileAuditor struct {
	path string
	now  func() time.Time

	mu sync.Mutex // guards f
	f  *os.File
}

var _ Auditor = (*FileAuditor)(nil)

// OpenAuditFile opens path for appending, creating it with mode 0600.
func OpenAuditFile(path string) (*FileAuditor, error) {
	a := &FileAuditor{path: path, now: time.Now}
	f, err := a.open()
	if err != nil {
		return nil, err
	}
	a.f = f
	return a, nil
}

func (a *FileAuditor) open() (*os.File, error) {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	return f, nil
}

// Path is the file's name.
func (a *FileAuditor) Path() string { return a.path }

// Record appends e; a zero Time is taken as now. The error, if any, means
// the entry is not on disk, and the request must be refused.
func (a *FileAuditor) Record(_ context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return errors.New("audit log is closed")
	}
	if _, err := a.f.Write(b); err != nil {
		return fmt.Errorf("writing audit log %s: %w", a.path, err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("syncing audit log %s: %w", a.path, err)
	}
	return nil
}

// Reopen opens the path afresh, after logrotate moved the file away; the
// old file is closed. When the path cannot be opened the old file is
// kept and the error returned.
func (a *FileAuditor) Reopen() error {
	f, err := a.open()
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.f
	a.f = f
	a.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file; Record fails afterwards.
func (a *FileAuditor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
