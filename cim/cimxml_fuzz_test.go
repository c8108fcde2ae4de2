package cim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/droverha/drover/internal/snmptest"
)

// FuzzCIMXMLRequest sends arbitrary bodies, with the headers a client
// would send for them, through the handler over the three-node model: it
// must never panic, and answers either a well-formed CIM message (200)
// or an HTTP refusal (4xx, or 501 for versions it does not speak).
func FuzzCIMXMLRequest(f *testing.F) {
	files, err := filepath.Glob("testdata/cimxml/*.request.xml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed requests: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><MULTIREQ/></MESSAGE></CIM>`))
	f.Add([]byte(`<!DOCTYPE CIM SYSTEM "CIM_DTD_V22.dtd"><CIM/>`))
	f.Add([]byte("<CIM>\xff</CIM>"))
	m := Build(snmptest.ThreeNodeView())
	h := CIMXMLHandler(func() Model { return m }, &xmlFakeRunner{ret: 1}, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := xmlServe(h, xmlHeaders(body), body)
		switch {
		case rec.Code == http.StatusOK:
			if err := xmlWellFormed(rec.Body.Bytes()); err != nil {
				t.Fatalf("200 with a body that is not XML: %v\n%s", err, rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500, rec.Code == http.StatusNotImplemented:
		default:
			t.Fatalf("status %d\n%s", rec.Code, rec.Body)
		}
	})
}

// xmlWellFormed checks a response with encoding/xml alone (not the
// handler's own parser): one CIM root element, every token well-formed.
func xmlWellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	roots := 0
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if t.Name.Local != "CIM" {
					return fmt.Errorf("root element %s", t.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return fmt.Errorf("%d root elements", roots)
	}
	return nil
}

// BenchmarkCIMXMLEnumerateRealServers10k enumerates the ten thousand
// real servers of snmptest.LargeView over loopback HTTP, as a CIM client
// would; instances/s is the figure to compare.
func BenchmarkCIMXMLEnumerateRealServers10k(b *testing.B) {
	m := Build(snmptest.LargeView(10000))
	insts, err := m.Instances("DRV_RealServer")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(CIMXMLHandler(func() Model { return m }, nil, nil))
	defer srv.Close()
	body := []byte(`<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="drover"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="DRV_RealServer"/></IPARAMVALUE><IPARAMVALUE NAME="LocalOnly"><VALUE>FALSE</VALUE></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>`)
	hdr := xmlHeaders(body)
	var size int64
	b.ResetTimer()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/cimom", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header = hdr.Clone()
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		size = n
	}
	b.ReportMetric(float64(len(insts))*float64(b.N)/b.Elapsed().Seconds(), "instances/s")
	b.ReportMetric(float64(size), "bytes/response")
}
