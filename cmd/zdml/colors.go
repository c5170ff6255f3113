package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
	"github.com/zero-downtime-ml/zdml/spec"
)

func init() {
	register("start", "start a color with desired.yaml, not routed: zdml start green", runColorCmd("start"))
	register("stop", "stop a color gracefully (refuses the active one without --force): zdml stop green", runColorCmd("stop"))
	register("swap", "route nginx to a running, ready color: zdml swap green", runColorCmd("swap"))
	register("which-active", "print the color nginx routes to", runWhichActive)
	register("mem", "memory of each color and nginx: RSS, PSS and shared pages", runMem)
	register("health", "health of each color, nginx and the public route", runHealth)
	register("chat", "send one chat request through nginx: zdml chat [MESSAGE]", runChat)
	register("down", "stop both colors and nginx (state and history are kept)", runDown)
}

// runColorCmd is start, stop and swap: manual controls while no daemon runs.
func runColorCmd(name string) func(context.Context, *slog.Logger, []string) error {
	return func(ctx context.Context, log *slog.Logger, args []string) error {
		var force bool
		color, rest := splitFile(args)
		f, fs, err := parseFlags(name, name+" COLOR [flags]", rest, func(fs *flag.FlagSet) {
			if name == "stop" {
				fs.BoolVar(&force, "force", false, "stop even the color nginx routes to")
			}
		})
		if err != nil {
			return err
		}
		if color == "" && fs.NArg() == 1 {
			color = fs.Arg(0)
		} else if color == "" || fs.NArg() > 0 {
			return fmt.Errorf("usage: zdml %s blue|green", name)
		}
		c, err := spec.ParseColor(color)
		if err != nil {
			return err
		}
		return manual(log, f, name, func(r *reconciler.Reconciler) (string, error) {
			switch name {
			case "start":
				return r.StartColor(ctx, c)
			case "stop":
				return r.StopColor(ctx, c, force)
			default:
				return r.SwapTo(ctx, c)
			}
		})
	}
}

// manual runs one manual control on the local stack and prints what it
// did; refused while a daemon holds the state. Nothing to do is not an
// error.
func manual(log *slog.Logger, f *stateFlags, name string, do func(*reconciler.Reconciler) (string, error)) error {
	if err := requireNoDaemon(f); err != nil {
		return err
	}
	cfg, err := f.config(log, name)
	if err != nil {
		return err
	}
	r, err := reconciler.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	msg, err := do(r)
	if errors.Is(err, reconciler.ErrNothingToDo) {
		fmt.Fprintln(stdout, strings.TrimPrefix(err.Error(), reconciler.ErrNothingToDo.Error()+": "))
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// viewCmd parses a read-only command's flags and opens a viewer on the
// state: what runs, observed, without taking the lock.
func viewCmd(log *slog.Logger, name, usage string, args []string, bindMore func(*flag.FlagSet)) (*reconciler.Viewer, error) {
	f, _, err := parseFlags(name, usage, args, bindMore)
	if err != nil {
		return nil, err
	}
	cfg, err := f.config(log, "view")
	if err != nil {
		return nil, err
	}
	return reconciler.NewViewer(cfg)
}

func runWhichActive(ctx context.Context, log *slog.Logger, args []string) error {
	v, err := viewCmd(log, "which-active", "which-active [flags]", args, nil)
	if err != nil {
		return err
	}
	c, err := v.Active(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, c)
	return nil
}

func runMem(ctx context.Context, log *slog.Logger, args []string) error {
	var asJSON bool
	v, err := viewCmd(log, "mem", "mem [--json] [flags]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	rows, err := v.Memory(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rows)
	}
	printMem(stdout, rows)
	return nil
}

func printMem(w io.Writer, rows []reconciler.MemRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROCS\tRSS\tPSS\tSHARED\tPRIVATE\t")
	var rss, pss int64
	for _, r := range rows {
		u := r.Usage
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", r.Name, orNone(r.Version), r.Procs, mib(u.Rss), mib(u.Pss),
			mib(u.SharedClean+u.SharedDirty), mib(u.PrivateClean+u.PrivateDirty))
		rss, pss = rss+u.Rss, pss+u.Pss
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t%s\t\t\t\n", mib(rss), mib(pss))
	tw.Flush()
	fmt.Fprintln(w, "PSS splits shared pages (the mmapped model) among the processes mapping them; the PSS total is the real cost.")
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func runHealth(ctx context.Context, log *slog.Logger, args []string) error {
	v, err := viewCmd(log, "health", "health [flags]", args, nil)
	if err != nil {
		return err
	}
	bad := 0
	for _, h := range v.Health(ctx) {
		mark := "ok  "
		if !h.OK {
			mark, bad = "FAIL", bad+1
		}
		extra := ""
		if d := h.Deep; d != nil {
			extra = fmt.Sprintf(" pid=%d in_flight=%d rss=%s", d.PID, d.InFlight, mib(d.RSSBytes))
		}
		fmt.Fprintf(stdout, "%s %-22s %s%s\n", mark, h.Name, h.Detail, extra)
	}
	if bad > 0 {
		return fmt.Errorf("%d unhealthy", bad)
	}
	return nil
}

func runChat(ctx context.Context, _ *slog.Logger, args []string) error {
	var maxTokens int
	msg, rest := splitFile(args)
	f, fs, err := parseFlags("chat", "chat [MESSAGE] [--max-tokens N]", rest, func(fs *flag.FlagSet) {
		fs.IntVar(&maxTokens, "max-tokens", 30, "tokens to generate")
	})
	if err != nil {
		return err
	}
	if msg == "" {
		msg = strings.Join(fs.Args(), " ")
	}
	if msg == "" {
		msg = "Say hello"
	}
	if err := checkAddr(f.publicAddr); err != nil {
		return fmt.Errorf("--public-addr: %w", err)
	}
	body, _ := json.Marshal(map[string]any{"message": msg, "max_tokens": maxTokens})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.publicAddr+"/chat", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out struct {
		Response string `json:"response"`
	}
	_ = json.Unmarshal(b, &out)
	fmt.Fprintf(stdout, "%s\n-- %s %s in %s\n", strings.TrimSpace(out.Response), resp.Header.Get("X-Model-Color"),
		resp.Header.Get("X-Model-Version"), time.Since(t0).Round(time.Millisecond))
	return nil
}

// runDown stops the local stack; refused while a daemon runs.
func runDown(ctx context.Context, log *slog.Logger, args []string) error {
	f, _, err := parseFlags("down", "down [flags]", args, nil)
	if err != nil {
		return err
	}
	return manual(log, f, "down", func(r *reconciler.Reconciler) (string, error) { return r.Down(ctx) })
}
