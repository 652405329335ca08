package ota

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Manifest describes one firmware artifact: ota.update's body without the
// URL. Sig is base64 Ed25519 over SignedBytes, which binds the version,
// size and SHA-256 together: the artifact is signed through its digest, so
// the device checks a multi-megabyte file while streaming it, and a signed
// artifact cannot be replayed under another version.
type Manifest struct {
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"` // lower-case hex
	Sig     string `json:"sig"`    // base64 (standard) Ed25519 signature
	// AllowDowngrade lets a version not newer than the running one be
	// installed. It is signed with the rest, so only the holder of the OTA
	// key can send a device back to an older build (one with known holes).
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// SignedBytes is what Sig signs.
func (m Manifest) SignedBytes() []byte {
	b := "posagent-ota-v1\n" + m.Version + "\n" + strconv.FormatInt(m.Size, 10) + "\n" + strings.ToLower(m.SHA256) + "\n"
	if m.AllowDowngrade {
		b += "allow-downgrade\n"
	}
	return []byte(b)
}

// SignArtifact makes the manifest of data as version, signed with key.
func SignArtifact(key ed25519.PrivateKey, version string, data []byte) Manifest {
	return SignManifest(key, version, data, false)
}

// SignManifest is SignArtifact that may allow a downgrade.
func SignManifest(key ed25519.PrivateKey, version string, data []byte, allowDowngrade bool) Manifest {
	sum := sha256.Sum256(data)
	m := Manifest{Version: version, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), AllowDowngrade: allowDowngrade}
	m.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, m.SignedBytes()))
	return m
}

// CheckForward refuses (FailDowngrade) a manifest whose version is not
// newer than running, unless its signature allows it. A running build
// whose version is no release number (a developer's) takes any.
func (m Manifest) CheckForward(running string) error {
	c, ok := CompareVersions(m.Version, running)
	switch {
	case m.AllowDowngrade:
		return nil
	case !ok && !validRelease(running):
		return nil
	case !ok:
		return Refused(FailDowngrade, "version %q cannot be compared with the running %s", m.Version, running)
	case c <= 0:
		return Refused(FailDowngrade, "version %s is not newer than the running %s (the signed manifest does not allow a downgrade)", m.Version, running)
	}
	return nil
}

func validRelease(v string) bool { _, _, ok := parseVersion(v); return ok }

// Firmware failure reasons, sent in ota.result.
const (
	FailBadRequest = "bad_request" // the manifest is not well formed
	FailNoKey      = "no_key"      // the device has no ota.pubkey
	FailDownload   = "download"    // the server could not be reached or read
	FailSize       = "size"        // not the size announced
	FailSHA256     = "sha256"      // not the digest announced
	FailSignature  = "signature"   // the signature does not verify
	FailInstall    = "install"     // the slot could not be written
	FailHealth     = "health"      // the new firmware failed its health check
	FailCrashed    = "crashed"     // the new firmware stopped before its health check
	FailDowngrade  = "downgrade"   // not newer than the running version
	FailRedirect   = "redirect"    // the server redirected away from https
)

// Check validates the manifest's form and its signature with pub, before
// anything is downloaded: a forged ota.update costs no bandwidth.
func (m Manifest) Check(pub ed25519.PublicKey, maxBytes int64) error {
	if len(pub) != ed25519.PublicKeySize {
		return Refused(FailNoKey, "no ota.pubkey configured")
	}
	if m.Version == "" || len(m.Version) > 64 || strings.ContainsAny(m.Version, "\n\x00") {
		return Refused(FailBadRequest, "version must be 1-64 characters")
	}
	if m.Size <= 0 || m.Size > maxBytes {
		return Refused(FailBadRequest, "size must be 1..%d bytes", maxBytes)
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != sha256.Size {
		return Refused(FailBadRequest, "sha256 must be 64 hex digits")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Refused(FailSignature, "sig must be a base64 Ed25519 signature")
	}
	if !ed25519.Verify(pub, m.SignedBytes(), sig) {
		return Refused(FailSignature, "signature does not verify with ota.pubkey")
	}
	return nil
}

// VerifyFile checks that the file at path is the artifact m describes:
// its size and its SHA-256 (the signature over both was checked by Check).
func (m Manifest) VerifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return Refused(FailDownload, "%v", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Refused(FailDownload, "%v", err)
	}
	if n != m.Size {
		return Refused(FailSize, "%d bytes, not %d", n, m.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(m.SHA256) {
		return Refused(FailSHA256, "sha256 %s, not %s", got, m.SHA256)
	}
	return nil
}

// HTTPClient is the download client: TLS 1.2+, trusting caFile when given
// (else the system roots).
func HTTPClient(caFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ota.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ota.ca_file %s: no PEM certificate in it", caFile)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 15 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, CheckRedirect: httpsOnly}, nil
}

// httpsOnly follows at most 5 redirects, each to https: a redirect to
// http:// would leave the download (and what the device fetches) open.
func httpsOnly(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		return Refused(FailRedirect, "redirected to %s://%s, not https", req.URL.Scheme, req.URL.Host)
	}
	if len(via) >= 5 {
		return Refused(FailRedirect, "more than 5 redirects")
	}
	return nil
}

// Download is one artifact download into a partial file.
type Download struct {
	URL    string
	Part   string // the partial file: kept between attempts and restarts
	Size   int64  // expected size: the download stops there
	Client *http.Client
	// Attempts bounds the tries (default 5); each resumes where the last
	// stopped, waiting Backoff (default 1 s, doubling) in between.
	Attempts int
	Backoff  time.Duration
	// Progress, if set, is told the bytes held after each chunk.
	Progress func(have int64)
}

// CheckURL accepts https:// URLs only: the signature protects the artifact,
// TLS keeps what a device installs private and the download unbroken.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Refused(FailBadRequest, "url must be https://")
	}
	return nil
}

// Run downloads until the partial file holds Size bytes, resuming with a
// Range request after a cut; a server that ignores Range (200) starts over.
// It does not verify the content: Manifest.VerifyFile does.
func (d Download) Run(ctx context.Context) error {
	if err := CheckURL(d.URL); err != nil {
		return err
	}
	if d.Attempts <= 0 {
		d.Attempts = 5
	}
	if d.Backoff <= 0 {
		d.Backoff = time.Second
	}
	wait := d.Backoff
	var last error
	for i := 0; i < d.Attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		done, err := d.attempt(ctx)
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var r *RefusedError
		if errors.As(err, &r) {
			return err // not worth retrying
		}
		last = err
	}
	return Refused(FailDownload, "after %d attempts: %v", d.Attempts, last)
}

func (d Download) attempt(ctx context.Context) (bool, error) {
	f, err := os.OpenFile(d.Part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, Refused(FailDownload, "%v", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	if have > d.Size {
		// More than announced: this partial file is not ours.
		if err := f.Truncate(0); err != nil {
			return false, err
		}
		have, _ = f.Seek(0, io.SeekStart)
	}
	if have == d.Size {
		return true, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return false, Refused(FailBadRequest, "%v", err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
			return false, fmt.Errorf("server resumed at the wrong place: %q", resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return false, err
		}
		if have, err = f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		f.Truncate(0) // start over next time
		return false, fmt.Errorf("server refused the range from %d", have)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return false, Refused(FailDownload, "server answered %s", resp.Status)
	default:
		return false, fmt.Errorf("server answered %s", resp.Status)
	}
	buf := make([]byte, 64<<10)
	body := io.LimitReader(resp.Body, d.Size-have)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return false, Refused(FailDownload, "write: %v", err)
			}
			have += int64(n)
			if d.Progress != nil {
				d.Progress(have)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Sync()
			return false, rerr
		}
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	if have < d.Size {
		return false, fmt.Errorf("connection ended at %d of %d bytes", have, d.Size)
	}
	return true, nil
}
