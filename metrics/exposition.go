package metrics

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
)

// contentType is that of the Prometheus text exposition format 0.0.4, the
// only one /metrics writes.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// A desc describes one metric family: its name, help text, type (gauge or
// counter) and label names.
type desc struct {
	name, help, typ string
	labels          []string
	// order lists the indices of labels sorted by name: a sample's labels
	// are written in that order, as client_golang writes them.
	order []int
}

func newDesc(typ, name, help string, labels []string) *desc {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &desc{name: name, help: help, typ: typ, labels: labels, order: order}
}

func gauge(name, help string, labels []string) *desc {
	return newDesc("gauge", name, help, labels)
}

func counter(name, help string, labels []string) *desc {
	return newDesc("counter", name, help, labels)
}

// A sample is one line of a family; values are its label values in the
// order of d.order (sorted by label name).
type sample struct {
	d      *desc
	values []string
	v      float64
}

// A scrape gathers the samples of one request to /metrics.
type scrape struct {
	samples []sample
}

// add appends a sample of d with label values in d.labels' order. A count
// that does not match d.labels is a bug in this package.
func (s *scrape) add(d *desc, v float64, values ...string) {
	if len(values) != len(d.labels) {
		panic("metrics: " + d.name + ": " + strconv.Itoa(len(values)) + " label values for " + strconv.Itoa(len(d.labels)) + " labels")
	}
	sorted := make([]string, len(values))
	for i, j := range d.order {
		// Repaired before sorting, so that two values that differ only in
		// invalid bytes are seen as the duplicates they become.
		sorted[i] = strings.ToValidUTF8(values[j], "\uFFFD")
	}
	s.samples = append(s.samples, sample{d: d, values: sorted, v: v})
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// writeText writes the samples in the text exposition format 0.0.4: families
// sorted by name, each once, with its # HELP and # TYPE lines; samples sorted
// by label values. A family without samples is not written.
func (s *scrape) writeText(b *bytes.Buffer) {
	slices.SortStableFunc(s.samples, func(x, y sample) int {
		if c := strings.Compare(x.d.name, y.d.name); c != 0 {
			return c
		}
		return slices.Compare(x.values, y.values)
	})
	var last *desc
	for k, sm := range s.samples {
		d := sm.d
		if k > 0 && d == s.samples[k-1].d && slices.Equal(sm.values, s.samples[k-1].values) {
			continue // a duplicate series: Prometheus would reject the scrape's second
		}
		if d != last {
			b.WriteString("# HELP " + d.name + " ")
			helpEscaper.WriteString(b, d.help)
			b.WriteString("\n# TYPE " + d.name + " " + d.typ + "\n")
			last = d
		}
		b.WriteString(d.name)
		for i, v := range sm.values {
			if i == 0 {
				b.WriteByte('{')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(d.labels[d.order[i]] + `="`)
			valueEscaper.WriteString(b, v)
			b.WriteByte('"')
		}
		if len(sm.values) > 0 {
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		b.WriteString(formatValue(sm.v))
		b.WriteByte('\n')
	}
}

// formatValue formats v as client_golang's expfmt does.
func formatValue(v float64) string {
	switch {
	case v == 1:
		return "1"
	case v == 0:
		return "0"
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
