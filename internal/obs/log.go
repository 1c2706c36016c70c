// Package obs is the observability of a Personas process: the zap logger,
// Prometheus metrics (with the kafkax.Observer and stage.Metrics hooks that
// feed them), and the HTTP server for /healthz, /readyz and /metrics.
//
// Privacy rule for everything here: log fields and metric labels carry
// stage names, partitions, reason codes and counts, never payloads,
// identifiers or secrets.
package obs

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/personas-dev/personas/internal/config"
)

// NewLogger builds the process logger: JSON lines on stderr by default.
func NewLogger(c config.Log) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "time"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	return zap.New(core), nil
}
