package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/posagent/posagent/config"
	"github.com/posagent/posagent/platform"
)

// defaultKitDir is the dev kit's folder when posctl demo -dir is left out.
const defaultKitDir = ".devkit"

// DefaultConfig is where the dev kit writes the agent's config; posctl reads
// the broker, device id and auth key from it when no flag says otherwise.
const DefaultConfig = defaultKitDir + "/posagent.json"

// conn holds the connection flags shared by send, watch and sim.
type conn struct {
	config, url, dev, authKey, prefix, user, pass string
}

func (c *conn) flags(fs *flag.FlagSet) {
	def := os.Getenv("POSCTL_CONFIG")
	if def == "" {
		def = DefaultConfig
	}
	fs.StringVar(&c.config, "config", def, "agent config file to take broker, device id and auth key from")
	fs.StringVar(&c.url, "url", "", "broker URL (overrides the config)")
	fs.StringVar(&c.dev, "dev", "", "device id (overrides the config)")
	fs.StringVar(&c.authKey, "auth-key", "", "device auth key, base64 (overrides the config)")
	fs.StringVar(&c.prefix, "prefix", "", "topic prefix (overrides the config)")
	fs.StringVar(&c.user, "username", "", "broker username")
	fs.StringVar(&c.pass, "password", "", "broker password")
}

// resolve fills what the flags did not give from the config file.
func (c *conn) resolve() error {
	if c.config != "" && (c.url == "" || c.dev == "" || c.authKey == "") {
		cfg, err := config.Load(c.config)
		switch {
		case err == nil:
			set := func(dst *string, v string) {
				if *dst == "" {
					*dst = v
				}
			}
			set(&c.url, cfg.MQTT.URL)
			set(&c.dev, cfg.DeviceID)
			set(&c.authKey, cfg.AuthKey)
			set(&c.prefix, cfg.MQTT.Prefix)
		case errors.Is(err, os.ErrNotExist):
			if c.url == "" || c.dev == "" || c.authKey == "" {
				return usageError(fmt.Sprintf("no %s: start the dev kit (make run) or give -config or -url, -dev and -auth-key", c.config))
			}
		default:
			return fmt.Errorf("config %s: %w", c.config, err)
		}
	}
	if c.url == "" || c.dev == "" || c.authKey == "" {
		return usageError("need -url, -dev and -auth-key (or -config)")
	}
	return nil
}

func (c *conn) key() ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(c.authKey)
	if err != nil || len(k) < 32 {
		return nil, usageError("auth key must be base64 of at least 32 bytes")
	}
	return k, nil
}

// dial connects as the platform with the device's keys registered.
func (c *conn) dial(ctx context.Context, log *slog.Logger) (*platform.Client, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	key, err := c.key()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cl, err := platform.Dial(dctx, platform.Options{URL: c.url, Username: c.user, Password: c.pass, Prefix: c.prefix, Log: log})
	if err != nil {
		return nil, err
	}
	cl.AddDevice(platform.Device{ID: c.dev, AuthKey: key})
	return cl, nil
}
