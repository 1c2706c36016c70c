package demo

import (
	"flag"
	"os"
	"testing"
)

var tempDirs []string

// mkTemp makes a directory that lives until the end of the test binary.
func mkTemp() (string, error) {
	dir, err := os.MkdirTemp("", "personas-demo-test-")
	if err == nil {
		tempDirs = append(tempDirs, dir)
	}
	return dir, err
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}
