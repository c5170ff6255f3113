package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// SmolLM2URL is the official Q4_K_M GGUF of SmolLM2-1.7B-Instruct (~1 GB).
// Its sha256 is shown on the file's page on huggingface.co; it is not
// hard-coded here because it could not be verified from this machine.
const SmolLM2URL = "https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF/resolve/main/smollm2-1.7b-instruct-q4_k_m.gguf"

// StatusError is an HTTP answer the downloader cannot use, e.g. 404.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Downloader fetches one large file with resume, progress and verification.
type Downloader struct {
	client   *http.Client
	log      *slog.Logger
	progress io.Writer
	tty      bool
	attempts int
	backoff  time.Duration
	stall    time.Duration
}

// DownloadOption configures a Downloader.
type DownloadOption func(*Downloader)

// WithHTTPClient sets the HTTP client (default: http.DefaultClient).
func WithHTTPClient(c *http.Client) DownloadOption { return func(d *Downloader) { d.client = c } }

// WithDownloadLogger logs attempts and outcomes to log.
func WithDownloadLogger(log *slog.Logger) DownloadOption { return func(d *Downloader) { d.log = log } }

// WithProgress draws progress on w: a redrawn bar if tty, else a plain line
// every 10%.
func WithProgress(w io.Writer, tty bool) DownloadOption {
	return func(d *Downloader) { d.progress, d.tty = w, tty }
}

// WithAttempts sets how many times a failed transfer is tried, resuming
// where it stopped (default 5), and the first pause between tries, which
// doubles each time (default 1s).
func WithAttempts(n int, backoff time.Duration) DownloadOption {
	return func(d *Downloader) { d.attempts, d.backoff = max(n, 1), backoff }
}

// WithStallTimeout aborts a try that receives nothing for this long
// (default 60s); the next try resumes.
func WithStallTimeout(t time.Duration) DownloadOption { return func(d *Downloader) { d.stall = t } }

// NewDownloader returns a Downloader with the given options.
func NewDownloader(opts ...DownloadOption) *Downloader {
	d := &Downloader{client: http.DefaultClient, log: slog.New(slog.DiscardHandler),
		progress: io.Discard, attempts: 5, backoff: time.Second, stall: time.Minute}
	for _, opt := range opts {
		opt(d)
	}
	return d
}

// Download fetches url into out and checks that its sha256 is wantSHA256.
// Bytes land in out+".part", which a later call resumes with an HTTP Range
// request; a server without Range support restarts it from zero. out
// appears, by rename, only once the whole file has the right sha256. A wrong
// sha256 removes the partial file and returns ErrChecksum. A file already at
// out with the right sha256 is not downloaded again.
func (d *Downloader) Download(ctx context.Context, url, wantSHA256, out string) error {
	wantSHA256 = strings.ToLower(strings.TrimSpace(wantSHA256))
	if !hexSHA256.MatchString(wantSHA256) {
		return fmt.Errorf("download: sha256 %q is not 64 hex digits", wantSHA256)
	}
	if sum, _, err := sumFile(ctx, out); err == nil && sum == wantSHA256 {
		d.log.Info("model already present", "file", out)
		return nil
	}
	part := out + ".part"
	var err error
	for attempt, pause := 1, d.backoff; ; attempt, pause = attempt+1, pause*2 {
		if err = d.fetch(ctx, url, part); err == nil || !retryable(err) || attempt >= d.attempts {
			break
		}
		d.log.Warn("download interrupted, resuming", "attempt", attempt, "err", err, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("download %s: %w", url, ctx.Err())
		case <-time.After(pause):
		}
	}
	if err != nil && fileSize(part) > 0 {
		return fmt.Errorf("download %s: %w (partial file kept: %s; run again to resume)", url, err, part)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return install(ctx, part, out, wantSHA256)
}

// fetch appends the missing bytes of url to part, asking for them with a
// Range request when part already holds some.
func (d *Downloader) fetch(ctx context.Context, url, part string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	offset := fileSize(part)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	start, total, err := contentRange(resp, offset)
	switch {
	case errors.Is(err, errComplete):
		return nil
	case errors.Is(err, errRestart):
		os.Remove(part)
		return err
	case err != nil:
		return err
	}
	d.log.Info("downloading", "url", url, "from_byte", start, "total_bytes", total)
	watchdog := newWatchdog(d.stall, func() { cancel(errStalled) })
	defer watchdog.stop()
	err = d.save(resp.Body, part, start, total, watchdog)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, errStalled) {
		err = cause
	}
	return err
}

// save writes body into part from byte start (0 truncates: a fresh
// transfer, or a server without Range support resending everything) and
// checks that part then holds total bytes when total is known.
func (d *Downloader) save(body io.Reader, part string, start, total int64, watchdog io.Writer) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if start == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return err
	}
	bar := newProgress(d.progress, d.tty, start, total)
	_, err = io.Copy(io.MultiWriter(f, bar, watchdog), body)
	bar.finish(err == nil)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && total >= 0 && fileSize(part) != total {
		err = fmt.Errorf("%w: got %d of %d bytes", io.ErrUnexpectedEOF, fileSize(part), total)
	}
	return err
}

var (
	errComplete = errors.New("partial file already complete")
	errRestart  = errors.New("partial file does not fit the remote file, restarting")
	errStalled  = errors.New("transfer stalled")
)

// contentRange checks the status of resp for a request from offset and
// returns where its body starts and the total size (-1 if unknown).
func contentRange(resp *http.Response, offset int64) (start, total int64, err error) {
	switch resp.StatusCode {
	case http.StatusOK:
		return 0, resp.ContentLength, nil
	case http.StatusPartialContent:
		var end int64
		var size string
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%s", &start, &end, &size); err != nil || start != offset {
			return 0, 0, fmt.Errorf("bad Content-Range %q for a request from byte %d", resp.Header.Get("Content-Range"), offset)
		}
		total, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			total = -1
		}
		return start, total, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// The part file holds every byte (verification decides), or more
		// than the remote file has: start again.
		if resp.Header.Get("Content-Range") == "bytes */"+strconv.FormatInt(offset, 10) {
			return 0, 0, errComplete
		}
		return 0, 0, errRestart
	}
	return 0, 0, &StatusError{Code: resp.StatusCode, Status: resp.Status}
}

// retryable reports whether another try may succeed: network trouble and
// server-side errors, not a missing file or a refused request.
func retryable(err error) bool {
	var status *StatusError
	if errors.As(err, &status) {
		return status.Code >= 500 || status.Code == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, os.ErrPermission)
}

// install verifies part and renames it to out; a wrong sum deletes part, as
// resuming a corrupt file can never succeed.
func install(ctx context.Context, part, out, want string) error {
	sum, _, err := sumFile(ctx, part)
	if err != nil {
		return fmt.Errorf("verify %s: %w", part, err)
	}
	if sum != want {
		os.Remove(part)
		return fmt.Errorf("download %s: %w: got %s, want %s; the partial file was removed, run again to download from scratch",
			filepath.Base(out), ErrChecksum, sum, want)
	}
	if err := os.Rename(part, out); err != nil {
		return fmt.Errorf("install %s: %w", out, err)
	}
	return atomicfile.SyncDir(filepath.Dir(out))
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
