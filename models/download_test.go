package models

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// origin is a test HTTP server for one file that records the Range header
// of every request and can misbehave the way real servers do.
type origin struct {
	data   []byte
	mu     sync.Mutex
	ranges []string
	// cutFirst makes the first response stop after this many body bytes,
	// with the full Content-Length announced: a dropped connection.
	cutFirst int
	hang     bool // with cutFirst: stall instead of closing the connection
	noRange  bool // ignore Range and send the whole file with 200
	status   int  // answer every request with this status if set
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.ranges = append(o.ranges, r.Header.Get("Range"))
	first := len(o.ranges) == 1
	o.mu.Unlock()
	switch {
	case o.status != 0:
		http.Error(w, http.StatusText(o.status), o.status)
	case first && o.cutFirst > 0:
		w.Header().Set("Content-Length", itoa(len(o.data)))
		w.Write(o.data[:o.cutFirst])
		w.(http.Flusher).Flush()
		if o.hang {
			<-r.Context().Done() // a server that stops sending but keeps the connection
			return
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	case o.noRange:
		w.Header().Set("Content-Length", itoa(len(o.data)))
		w.Write(o.data)
	default:
		http.ServeContent(w, r, "model.gguf", time.Time{}, bytes.NewReader(o.data))
	}
}

func (o *origin) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ranges...)
}

func itoa(n int) string { return strconv.Itoa(n) }

// served returns a generated model file to serve and its sha256.
func served(t *testing.T) ([]byte, string) {
	t.Helper()
	data, err := os.ReadFile(repoModel(t, Tiny))
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := ExpectedSHA256(Tiny)
	return data, sum
}

func newTestDownloader(progress *bytes.Buffer, attempts int) *Downloader {
	return NewDownloader(WithProgress(progress, false), WithAttempts(attempts, time.Millisecond),
		WithStallTimeout(300*time.Millisecond))
}

func TestDownload(t *testing.T) {
	data, sum := served(t)
	tests := []struct {
		name       string
		origin     *origin
		attempts   int
		wantRanges []string
	}{
		{"full download", &origin{}, 1, []string{""}},
		{"interrupted transfer resumes with Range", &origin{cutFirst: len(data) / 3}, 3,
			[]string{"", "bytes=" + itoa(len(data)/3) + "-"}},
		{"stalled transfer is abandoned and resumed", &origin{cutFirst: len(data) / 4, hang: true}, 2,
			[]string{"", "bytes=" + itoa(len(data)/4) + "-"}},
		{"server without Range support restarts from zero", &origin{cutFirst: len(data) / 3, noRange: true}, 3,
			[]string{"", "bytes=" + itoa(len(data)/3) + "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.origin.data = data
			srv := httptest.NewServer(tt.origin)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "model.gguf")
			var progress bytes.Buffer
			if err := newTestDownloader(&progress, tt.attempts).Download(context.Background(), srv.URL, sum, out); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("downloaded file differs from the served one (err %v)", err)
			}
			if _, err := os.Stat(out + ".part"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("partial file left behind: %v", err)
			}
			if got := tt.origin.requests(); strings.Join(got, ",") != strings.Join(tt.wantRanges, ",") {
				t.Errorf("Range headers = %q, want %q", got, tt.wantRanges)
			}
			if !strings.Contains(progress.String(), "100.0%") {
				t.Errorf("progress never reached 100%%:\n%s", progress.String())
			}
		})
	}
}

func TestDownloadResumesAcrossRuns(t *testing.T) {
	data, sum := served(t)
	o := &origin{data: data, cutFirst: len(data) / 2}
	srv := httptest.NewServer(o)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "model.gguf")
	var progress bytes.Buffer
	err := newTestDownloader(&progress, 1).Download(context.Background(), srv.URL, sum, out)
	if err == nil || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("first run: err = %v, want an interrupted download", err)
	}
	if got := fileSize(out + ".part"); got != int64(len(data)/2) {
		t.Fatalf("partial file has %d bytes, want %d", got, len(data)/2)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists after a failed download", out)
	}
	if err := newTestDownloader(&progress, 1).Download(context.Background(), srv.URL, sum, out); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := o.requests(); len(got) != 2 || got[1] != "bytes="+itoa(len(data)/2)+"-" {
		t.Errorf("Range headers = %q, want the second run to resume from byte %d", got, len(data)/2)
	}
	// A third run finds the file in place and does not touch the network.
	if err := newTestDownloader(&progress, 1).Download(context.Background(), srv.URL, sum, out); err != nil {
		t.Fatal(err)
	}
	if n := len(o.requests()); n != 2 {
		t.Errorf("third run made a request (%d in total), want none", n)
	}
}

func TestDownloadWrongChecksumRemovesPartial(t *testing.T) {
	data, _ := served(t)
	srv := httptest.NewServer(&origin{data: data})
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "model.gguf")
	wrong := strings.Repeat("ab", 32)
	var progress bytes.Buffer
	err := newTestDownloader(&progress, 1).Download(context.Background(), srv.URL, wrong, out)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "partial file was removed") {
		t.Fatalf("err = %v, want ErrChecksum saying the partial file was removed", err)
	}
	for _, p := range []string{out, out + ".part"} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after a checksum failure", p)
		}
	}
}

func TestDownloadHTTPErrors(t *testing.T) {
	_, sum := served(t)
	tests := []struct {
		name         string
		status       int
		wantRequests int // 5xx is retried, 4xx is not
	}{
		{"not found", http.StatusNotFound, 1},
		{"server error", http.StatusInternalServerError, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &origin{status: tt.status}
			srv := httptest.NewServer(o)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "model.gguf")
			var progress bytes.Buffer
			err := newTestDownloader(&progress, 3).Download(context.Background(), srv.URL, sum, out)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.status {
				t.Fatalf("err = %v, want HTTP %d", err, tt.status)
			}
			if got := len(o.requests()); got != tt.wantRequests {
				t.Errorf("made %d requests, want %d", got, tt.wantRequests)
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s exists after HTTP %d", out, tt.status)
			}
		})
	}
}

func TestDownloadRejectsBadSHA256(t *testing.T) {
	for _, sum := range []string{"", "abc", strings.Repeat("z", 64)} {
		err := NewDownloader().Download(context.Background(), "http://127.0.0.1:1/x", sum, filepath.Join(t.TempDir(), "x"))
		if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("sha256 %q: err = %v, want a clear format error", sum, err)
		}
	}
}

func TestProgressLines(t *testing.T) {
	clock := time.Unix(0, 0)
	tests := []struct {
		name  string
		tty   bool
		total int64
		want  []string
	}{
		{"plain lines every 10%", false, 10 << 20, []string{
			" 10.0% [##----------------------]     1.0/10.0 MB     1.0 MB/s  ETA 9s",
			" 50.0% [############------------]     5.0/10.0 MB     1.0 MB/s  ETA 5s",
			"100.0% [########################]    10.0/10.0 MB     1.0 MB/s  ETA 0s",
		}},
		{"unknown size", false, -1, []string{"    10.0 MB     1.0 MB/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := clock
			p := newProgress(&buf, tt.tty, 0, tt.total)
			p.now = func() time.Time { return now }
			p.began = clock
			for _, step := range []int{1, 4, 5} {
				now = now.Add(time.Duration(step) * time.Second)
				p.Write(make([]byte, step<<20))
			}
			p.finish(true)
			got := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("progress output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDownloadFinishesFromLeftoverPart(t *testing.T) {
	data, sum := served(t)
	tests := []struct {
		name       string
		part       []byte
		wantRanges []string
	}{
		// A crash between the last byte and the rename: the server answers
		// 416 and verification installs the part as is.
		{"complete part", data, []string{"bytes=" + itoa(len(data)) + "-"}},
		// A part longer than the remote file cannot be resumed: start over.
		{"part longer than the file", append(append([]byte(nil), data...), "junk"...),
			[]string{"bytes=" + itoa(len(data)+4) + "-", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &origin{data: data}
			srv := httptest.NewServer(o)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "model.gguf")
			if err := os.WriteFile(out+".part", tt.part, 0o644); err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			if err := newTestDownloader(&progress, 2).Download(context.Background(), srv.URL, sum, out); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Error("installed file differs from the served one")
			}
			if got := o.requests(); strings.Join(got, ",") != strings.Join(tt.wantRanges, ",") {
				t.Errorf("Range headers = %q, want %q", got, tt.wantRanges)
			}
		})
	}
}

func TestProgressRedrawsOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := newProgress(&buf, true, 0, 4<<20)
	p.now = func() time.Time { return now }
	p.began = now
	for i := 0; i < 4; i++ {
		now = now.Add(100 * time.Millisecond) // redraws at most every 200ms
		p.Write(make([]byte, 1<<20))
	}
	p.finish(true)
	out := buf.String()
	if n := strings.Count(out, "\r"); n != 3 {
		t.Errorf("%d redraws, want 2 throttled redraws and the final one:\n%q", n, out)
	}
	if !strings.HasSuffix(out, "100.0% [########################]     4.0/4.0 MB    10.0 MB/s  ETA 0s\x1b[K\n") {
		t.Errorf("final line = %q", out[strings.LastIndex(out, "\r"):])
	}
}
