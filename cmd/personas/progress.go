package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a one-line progress bar on a terminal (and stays quiet
// when the output is not one, so logs and CI stay clean).
type progress struct {
	w     io.Writer
	label string
	total int64
	last  time.Time
	start time.Time
	on    bool
}

func newProgress(w io.Writer, label string, total int64, quiet bool) *progress {
	on := !quiet
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			on = false
		}
	} else {
		on = false
	}
	return &progress{w: w, label: label, total: total, on: on, start: time.Now()}
}

func (p *progress) set(n int64) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	rate := float64(n) / time.Since(p.start).Seconds()
	if p.total > 0 {
		frac := float64(n) / float64(p.total)
		bar := strings.Repeat("█", int(frac*30)) + strings.Repeat("░", 30-int(frac*30))
		fmt.Fprintf(p.w, "\r%s %s %3.0f%% %d/%d  %.0f/s ", p.label, bar, frac*100, n, p.total, rate)
		return
	}
	fmt.Fprintf(p.w, "\r%s %d  %.0f/s ", p.label, n, rate)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
