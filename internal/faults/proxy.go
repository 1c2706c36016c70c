// Package faults holds the tools of the fault suite (internal/e2e/faults_test.go,
// `make test-faults`): an in-process Shopify toxiproxy that puts latency, cuts and
// black holes between the pipeline and Redis or Kafka, the suite's size settings,
// and the table of results it prints and docs/operations.md shows.
//
// Nothing here is used by the personas binary.
package faults

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Toxiproxy is a toxiproxy server running inside the test process, driven
// through its HTTP API (the same API a standalone toxiproxy-server offers, so
// what the suite does can be repeated by hand with toxiproxy-cli).
type Toxiproxy struct {
	// API is the address of the HTTP API.
	API    string
	client *toxiclient.Client
}

var (
	serverOnce sync.Once
	server     *Toxiproxy
	serverErr  error
)

// StartToxiproxy starts the in-process server on a free loopback port, once
// per process (its HTTP server cannot be stopped; proxies can).
func StartToxiproxy() (*Toxiproxy, error) {
	serverOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			serverErr = err
			return
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		_ = ln.Close()
		srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
		go srv.Listen("127.0.0.1", port)
		tp := &Toxiproxy{API: "127.0.0.1:" + port, client: toxiclient.NewClient("127.0.0.1:" + port)}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := tp.client.Proxies(); err == nil {
				break
			} else if time.Now().After(deadline) {
				serverErr = fmt.Errorf("toxiproxy API on %s does not answer: %w", tp.API, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		server = tp
	})
	return server, serverErr
}

// Proxy is one proxied link: clients connect to Listen, the proxy connects to
// Upstream.
type Proxy struct {
	Name     string
	Listen   string
	Upstream string
	p        *toxiclient.Proxy
}

// Proxy creates (or replaces) a proxy from listen to upstream. An empty or
// ":0" port in listen picks a free one; Listen holds the address in use.
func (tp *Toxiproxy) Proxy(name, listen, upstream string) (*Proxy, error) {
	if old, err := tp.client.Proxy(name); err == nil {
		_ = old.Delete()
	}
	var p *toxiclient.Proxy
	err := retry(func() error {
		var err error
		if p, err = tp.client.CreateProxy(name, listen, upstream); err != nil {
			if q, gerr := tp.client.Proxy(name); gerr == nil && q.Upstream == upstream {
				p, err = q, nil
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: create %s (%s -> %s): %w", name, listen, upstream, err)
	}
	return &Proxy{Name: name, Listen: p.Listen, Upstream: upstream, p: p}, nil
}

// The API is plain HTTP with keep-alive: a request can meet a connection the
// server just closed as idle. Each call is retried a few times; every call
// here is safe to repeat (adding a toxic that exists counts as done).
func retry(f func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return err
}

func (p *Proxy) addToxic(name, typ, stream string, attrs toxiclient.Attributes) error {
	return retry(func() error {
		_, err := p.p.AddToxic(name, typ, stream, 1, attrs)
		if err == nil {
			return nil
		}
		if ts, lerr := p.p.Toxics(); lerr == nil {
			for _, t := range ts {
				if t.Name == name {
					return nil
				}
			}
		}
		return err
	})
}

// Latency delays every chunk in both directions by ms milliseconds, plus or
// minus jitter.
func (p *Proxy) Latency(ms, jitter int) error {
	var errs []error
	for _, dir := range []string{"upstream", "downstream"} {
		errs = append(errs, p.addToxic("latency_"+dir, "latency", dir, toxiclient.Attributes{"latency": ms, "jitter": jitter}))
	}
	return errors.Join(errs...)
}

// Blackhole drops all data in both directions without closing anything, as
// a network partition does; removing it (Clear) closes the connections that
// were held.
func (p *Proxy) Blackhole() error {
	var errs []error
	for _, dir := range []string{"upstream", "downstream"} {
		errs = append(errs, p.addToxic("blackhole_"+dir, "timeout", dir, toxiclient.Attributes{"timeout": 0}))
	}
	return errors.Join(errs...)
}

// Clear removes every toxic.
func (p *Proxy) Clear() error {
	return retry(func() error {
		ts, err := p.p.Toxics()
		if err != nil {
			return err
		}
		for _, t := range ts {
			if err := p.p.RemoveToxic(t.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cut closes every connection through the proxy and refuses new ones (the
// listener is closed: connection refused) until Restore.
func (p *Proxy) Cut() error { return retry(p.p.Disable) }

// Restore accepts connections again after Cut.
func (p *Proxy) Restore() error { return retry(p.p.Enable) }

// Delete removes the proxy and closes its connections.
func (p *Proxy) Delete() error { return retry(p.p.Delete) }
