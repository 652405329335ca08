// Package faults puts a toxiproxy proxy between the agent and its broker so
// tests can add latency, cut the link, black-hole it or reset it while
// flows are in the middle of their work.
package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is one TCP proxy to an upstream address.
type Proxy struct {
	mu    sync.Mutex
	p     *toxiproxy.Proxy
	addr  string
	down  bool
	toxic string
}

// Start proxies a free loopback port to upstream.
func Start(upstream string) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, "link", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	return &Proxy{p: p, addr: p.Listen}, nil
}

// Addr is where clients connect (host:port).
func (x *Proxy) Addr() string { return x.addr }

// URL is the tcp:// URL of Addr.
func (x *Proxy) URL() string { return "tcp://" + x.addr }

// Down cuts the link: the listener closes and every connection drops.
func (x *Proxy) Down() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.down {
		x.p.Stop()
		x.down = true
	}
}

// Up brings the link back on the same address.
func (x *Proxy) Up() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.down {
		return nil
	}
	x.p.Listen = x.addr
	if err := x.p.Start(); err != nil {
		return err
	}
	x.down = false
	return nil
}

// set replaces the current toxic with one of the given type and attributes
// (JSON object text), on both directions.
func (x *Proxy) set(typ, attrs string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.clearLocked()
	for _, stream := range []string{"upstream", "downstream"} {
		name := typ + "_" + stream
		js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
		if _, err := x.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
			return fmt.Errorf("toxic %s: %w", typ, err)
		}
	}
	x.toxic = typ
	return nil
}

func (x *Proxy) clearLocked() {
	if x.toxic == "" {
		return
	}
	for _, stream := range []string{"upstream", "downstream"} {
		x.p.Toxics.RemoveToxic(context.Background(), x.toxic+"_"+stream)
	}
	x.toxic = ""
}

// Latency delays every byte by ms milliseconds (± jitter).
func (x *Proxy) Latency(ms, jitter int) error {
	return x.set("latency", fmt.Sprintf(`{"latency":%d,"jitter":%d}`, ms, jitter))
}

// Bandwidth limits the link to kbps kilobytes per second.
func (x *Proxy) Bandwidth(kbps int) error {
	return x.set("bandwidth", fmt.Sprintf(`{"rate":%d}`, kbps))
}

// BlackHole keeps connections open but delivers nothing.
func (x *Proxy) BlackHole() error { return x.set("timeout", `{"timeout":0}`) }

// Reset closes connections with a TCP RST.
func (x *Proxy) Reset() error { return x.set("reset_peer", `{"timeout":0}`) }

// Clear removes the toxic (the link works normally again).
func (x *Proxy) Clear() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.clearLocked()
}

// Close stops the proxy.
func (x *Proxy) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.down {
		x.p.Stop()
		x.down = true
	}
}
