package cim

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/droverha/drover/internal/golden"
	"github.com/droverha/drover/internal/snmptest"
	"github.com/droverha/drover/model"
)

// updateGolden is the package's -update flag, whichever test file
// defines it; false when none does.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// exposition renders what c collects as Prometheus text.
func exposition(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestMetricsThreeNodeView compares the metrics of the three-node fixture
// with testdata/metrics.golden (refresh with -update).
func TestMetricsThreeNodeView(t *testing.T) {
	c := NewViewCollector(snmptest.ThreeNodeView)
	const path = "testdata/metrics.golden"
	golden.Compare(t, updateGolden(), path, exposition(t, c))
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, bytes.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestMetricsLint(t *testing.T) {
	for name, v := range map[string]model.View{"three nodes": snmptest.ThreeNodeView(), "large": snmptest.LargeView(100), "empty": {}} {
		problems, err := testutil.CollectAndLint(NewViewCollector(func() model.View { return v }))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
}

// TestMetricsDuplicates: a view with a name twice still scrapes.
func TestMetricsDuplicates(t *testing.T) {
	v := snmptest.ThreeNodeView()
	v.Nodes = append(v.Nodes, v.Nodes[0])
	v.VIPGroups = append(v.VIPGroups, v.VIPGroups[0])
	v.Services = append(v.Services, v.Services[0])
	v.Services[0].RealServers = append(v.Services[0].RealServers, v.Services[0].RealServers[0])
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewViewCollector(func() model.View { return v }))
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

// TestMetricsReadView: the collector reads the view at each scrape.
func TestMetricsReadView(t *testing.T) {
	v := snmptest.ThreeNodeView()
	c := NewViewCollector(func() model.View { return v })
	if got := testutil.ToFloat64(onlyMetric(c, "drover_epoch")); got != 17 {
		t.Errorf("epoch %v", got)
	}
	v.Epoch = 18
	if got := testutil.ToFloat64(onlyMetric(c, "drover_epoch")); got != 18 {
		t.Errorf("epoch after a change %v", got)
	}
}

// onlyMetric is a collector of c's metrics named name.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if bytes.Contains([]byte(m.Desc().String()), []byte(`fqName: "`+f.name+`"`)) {
			ch <- m
		}
	}
}
