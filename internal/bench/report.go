package bench

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Markers delimit the generated parts of the benchmarks document; the
// rest of it is written by hand and left alone.
const (
	resultsBegin = "<!-- bench:results:begin (written by personas bench; edits inside are overwritten) -->"
	resultsEnd   = "<!-- bench:results:end -->"
	scalingBegin = "<!-- bench:scaling:begin (written by personas bench; edits inside are overwritten) -->"
	scalingEnd   = "<!-- bench:scaling:end -->"
)

// Targets of issue 7, on a 2-core machine with Kafka and Redis on the
// same cores.
const (
	targetIngestRatio = 0.60
	targetRunRate     = 100000
	targetRunRatio    = 0.40
	targetRoundTrips  = 0.01
	targetRSS         = 300 << 20
	targetP99Millis   = 1000
)

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }

func cpuCell(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func row(res *Result) string {
	ratio := "n/a"
	if res.Ratio > 0 {
		ratio = fmt.Sprintf("%.0f %%", res.Ratio*100)
	}
	return fmt.Sprintf("| %s | `%s` | %d | %d | **%s** | %s | %.2f | %.0f | %.4f | %s | %s |",
		res.Name, res.Command, res.Instances, res.Events, f0(res.Rate), ratio, res.CPUPerM, mb(res.RSS),
		res.RoundTrips, cpuCell(res.RedisCPUPerM), cpuCell(res.KafkaCPUPerM))
}

const tableHead = "| component | command | instances | events measured | events/s | of pass-through | CPU s / 1M events | peak RSS MB (one instance) | Redis round trips / event | Redis CPU s / 1M events | Kafka broker CPU s / 1M events |\n" +
	"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"

// Results renders the main results (Markdown): what `personas bench`
// prints and writes into the document.
func Results(rep *Report) string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Options.Command)
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), %.1f GiB memory; Kafka and Redis on the same machine and cores.\n",
		m.CPUs, m.CPUModel, float64(m.Memory)/(1<<30))
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min): %s at the start, %s at the end.\n", rep.LoadBefore, rep.LoadAfter)
	var vs []string
	for _, k := range []string{"Go", "Kafka", "Redis", "kafka-go", "go-redis"} {
		if v := rep.Versions[k]; v != "" {
			vs = append(vs, k+" "+v)
		}
	}
	fmt.Fprintf(&b, "- Versions: %s.\n", strings.Join(vs, ", "))
	if rep.Options.Compression != "" {
		fmt.Fprintf(&b, "- Every component wrote with kafka.producer.compression=%s.\n", rep.Options.Compression)
	}
	if rep.Options.MemoryLimit != "" {
		fmt.Fprintf(&b, "- Every component ran with GOMEMLIMIT=%s.\n", rep.Options.MemoryLimit)
	}
	st := rep.Stream
	fmt.Fprintf(&b, "- Stream: %d synthetic events (%.1f %% bot, %.1f %% malformed, %.0f bytes each on average), %d partitions per topic; produced at %.0f events/s.\n\n",
		st.Events, pct(st.Bots, st.Events), pct(st.Bad, st.Events), float64(st.Bytes)/float64(max(st.Events, 1)),
		rep.Options.Partitions, float64(st.Events)/max(st.Seconds, 1e-9))
	b.WriteString(tableHead + "\n")
	for _, res := range rep.Results {
		b.WriteString(row(res) + "\n")
	}
	if rep.Visitors != nil {
		b.WriteString(row(rep.Visitors) + "\n")
	}
	b.WriteString("\n")
	if l := rep.Latency; l != nil {
		fmt.Fprintf(&b, "End-to-end latency from produce to visible persona figure, `personas run` fed at %.0f events/s (%s; %.0f achieved): "+
			"**p50 %s, p99 %s**, max %s over %d events (median %s in the first quarter of the run, %s in the last).\n\n",
			l.Rate, rateNote(rep), l.Achieved, ms(l.P50), ms(l.P99), ms(l.Max), l.Events, ms(l.FirstQuarterP50), ms(l.LastQuarterP50))
	}
	if rep.Visitors != nil {
		fmt.Fprintf(&b, "Memory: %d distinct visitors in one epoch (HyperLogLog count of the figures), peak RSS of `personas run` %.0f MB.\n\n",
			rep.Distinct, mb(rep.Visitors.RSS))
	}
	b.WriteString(Targets(rep))
	return b.String()
}

func rateNote(rep *Report) string {
	if rep.Options.LatencyRate > 0 {
		return "a fixed rate"
	}
	return "50 % of its maximum"
}

// Targets renders the targets with the measured values.
func Targets(rep *Report) string {
	var pass, ingest, run *Result
	for _, r := range rep.Results {
		switch r.Command {
		case "personas bench passthrough":
			pass = r
		case "personas ingest":
			ingest = r
		case "personas run":
			run = r
		}
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var b strings.Builder
	if pass != nil && ingest != nil {
		fmt.Fprintf(&b, "| ingest >= 60 %% of pass-through | %.0f %% | %s |\n", ingest.Ratio*100, mark(ingest.Ratio >= targetIngestRatio))
	}
	if run != nil {
		fmt.Fprintf(&b, "| run >= 100 000 events/s | %.0f | %s |\n", run.Rate, mark(run.Rate >= targetRunRate))
		fmt.Fprintf(&b, "| run >= 40 %% of pass-through | %.0f %% | %s |\n", run.Ratio*100, mark(run.Ratio >= targetRunRatio))
		fmt.Fprintf(&b, "| <= 0.01 Redis round trips per event (run) | %.4f | %s |\n", run.RoundTrips, mark(run.RoundTrips <= targetRoundTrips))
	}
	if v := rep.Visitors; v != nil {
		fmt.Fprintf(&b, "| peak RSS <= 300 MB with 1 000 000 distinct visitors (measured: %d) | %.0f MB | %s |\n", rep.Distinct, mb(v.RSS),
			mark(v.RSS <= targetRSS && rep.Distinct >= 990000))
	}
	if l := rep.Latency; l != nil && rep.Options.LatencyRate <= 0 {
		fmt.Fprintf(&b, "| p99 produce-to-figure <= 1 s at 50 %% of max | %s | %s |\n", ms(l.P99), mark(l.P99.Milliseconds() <= targetP99Millis))
	}
	if b.Len() == 0 {
		return ""
	}
	return "| target (issue 7) | measured | |\n|---|--:|---|\n" + b.String()
}

// Scaling renders the scaling runs (Markdown), with the single-instance run
// for reference.
func Scaling(rep *Report) string {
	if len(rep.Scaling) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s with `%s`, load average %s; same stream and broker as the overview.\n\n",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Options.Command, rep.LoadBefore)
	b.WriteString(tableHead + "\n")
	for _, r := range rep.Results {
		if r.Command == "personas bench passthrough" || r.Command == "personas run" {
			b.WriteString(row(r) + "\n")
		}
	}
	for _, r := range rep.Scaling {
		b.WriteString(row(r) + "\n")
	}
	return b.String()
}

// WriteDoc writes the results into the generated parts of the document,
// creating it (or a missing part) when needed.
func WriteDoc(path string, rep *Report) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(b)
	if doc == "" {
		doc = "# Benchmarks\n\n## Overview\n\n" + resultsBegin + "\n" + resultsEnd + "\n\n## Scaling\n\n" + scalingBegin + "\n" + scalingEnd + "\n"
	}
	doc = replaceBlock(doc, resultsBegin, resultsEnd, Results(rep), "## Overview")
	if s := Scaling(rep); s != "" {
		doc = replaceBlock(doc, scalingBegin, scalingEnd, s, "## Scaling")
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// replaceBlock replaces what lies between begin and end; without the
// markers, it adds them with the body under heading (or at the end).
func replaceBlock(doc, begin, end, body, heading string) string {
	block := begin + "\n" + body + end
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i >= 0 && j > i {
		return doc[:i] + block + doc[j+len(end):]
	}
	if h := strings.Index(doc, heading+"\n"); h >= 0 {
		at := h + len(heading) + 1
		return doc[:at] + "\n" + block + "\n" + doc[at:]
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + heading + "\n\n" + block + "\n"
}
