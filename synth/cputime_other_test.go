//go:build !linux

package synth

import "time"

func threadCPU() time.Duration { return 0 }
