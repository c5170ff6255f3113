package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

func init() {
	register("deploy-log", "the structured deploy log (events.jsonl), human-readable [-n 40] [--follow] [--json]", runDeployLog)
}

// followPoll is how often --follow looks for new events.
const followPoll = 200 * time.Millisecond

func runDeployLog(ctx context.Context, _ *slog.Logger, args []string) error {
	var (
		n              int
		follow, asJSON bool
	)
	f, fs, err := parseFlags("deploy-log", "deploy-log [-n 40] [--follow] [--json] [flags]", args, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "n", 40, "how many of the last events to print")
		fs.BoolVar(&follow, "follow", false, "keep printing events as they are written, until interrupted")
		fs.BoolVar(&asJSON, "json", false, "print the events.jsonl lines as they are")
	})
	if err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("-n %d: want a positive number", n)
	}
	if f.stateDir == "" {
		return errors.New("--state-dir: empty")
	}
	path := filepath.Join(f.stateDir, reconciler.EventsFile)
	emit := func(line []byte) { printEventLine(stdout, line, asJSON) }
	offset, err := lastEvents(path, n, emit)
	if err != nil {
		return err
	}
	if !follow {
		if offset == 0 {
			fmt.Fprintf(os.Stderr, "zdml: no events yet in %s\n", path)
		}
		return nil
	}
	return followEvents(ctx, path, offset, emit)
}

// lastEvents prints the last n complete lines of the log and returns
// where they end (a line still being written is left for --follow); a
// missing log is empty.
func lastEvents(path string, n int, emit func([]byte)) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var lines [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	for _, line := range lines[max(0, len(lines)-n):] {
		emit(line)
	}
	return int64(len(b)), nil
}

// followEvents prints complete lines appended after offset until ctx ends
// (Ctrl-C), which is a normal end. A log that shrank was replaced: it is
// read again from the start.
func followEvents(ctx context.Context, path string, offset int64, emit func([]byte)) error {
	var partial []byte
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() < offset {
			offset, partial = 0, nil
		}
		if b, err := readFrom(path, offset); err == nil && len(b) > 0 {
			offset += int64(len(b))
			partial = append(partial, b...)
			for {
				i := bytes.IndexByte(partial, '\n')
				if i < 0 {
					break
				}
				if line := bytes.TrimSpace(partial[:i]); len(line) > 0 {
					emit(line)
				}
				partial = partial[i+1:]
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// printEventLine prints one events.jsonl line: as it is with --json, else
// as columns (time, deploy id, step, phase, color and version, duration,
// message). A line that is not an event is printed as it is.
func printEventLine(w io.Writer, line []byte, asJSON bool) {
	var e reconciler.Event
	if asJSON || json.Unmarshal(line, &e) != nil {
		fmt.Fprintf(w, "%s\n", line)
		return
	}
	fmt.Fprintln(w, formatEvent(e))
}

func formatEvent(e reconciler.Event) string {
	dur := ""
	if e.Duration > 0 {
		dur = e.Duration.Round(time.Millisecond).String()
	}
	s := fmt.Sprintf("%s  %-23s  %-9s %-8s %-5s %-8s %8s", e.Time.Local().Format("2006-01-02 15:04:05.000"), orNone(e.DeployID),
		e.Step, e.Phase, orNone(string(e.Color)), orNone(e.Version), dur)
	if e.Message != "" {
		s += "  " + e.Message
	}
	return s
}
