//go:build tools

// Package main pins the modules the project builds on, so go mod tidy keeps them
// while the packages that use them are being written.
package main

import (
	_ "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/expr-lang/expr"
	_ "github.com/goccy/go-json"
	_ "github.com/google/uuid"
	_ "github.com/mileusna/useragent"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/spf13/cobra"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "go.uber.org/zap"
	_ "golang.org/x/net/publicsuffix"
	_ "gopkg.in/yaml.v3"
)

func main() {}
