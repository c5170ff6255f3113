// Command kubecluster runs the Kubernetes test cluster by hand (make kube-up,
// make kube-down), for a bench or a look with kubectl-free clients:
//
//	kubecluster up   [--dir .zdml/kube]  start a cluster that outlives the command
//	kubecluster down [--dir .zdml/kube]  stop it and remove its leftovers
//
// up prints the admin kubeconfig's path; the cluster's files and logs are in
// the directory (logs/<component>.log).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/zero-downtime-ml/zdml/internal/testenv/kubecluster"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: kubecluster up|down [--dir DIR]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".zdml/kube", "the cluster's directory")
	_ = fs.Parse(os.Args[2:])
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	abs, err := filepath.Abs(*dir)
	if err == nil {
		if os.Args[1] == "up" {
			err = up(abs, log)
		} else {
			err = down(abs, log)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecluster:", err)
		os.Exit(1)
	}
}

func up(dir string, log *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(dir, "cluster.json")); err == nil {
		return fmt.Errorf("%s already holds a cluster: make kube-down first", dir)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	c, err := kubecluster.New(context.Background(), kubecluster.Options{
		RepoRoot: root, Dir: dir, Detached: true, Log: log, Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)
	return nil
}

func down(dir string, log *slog.Logger) error {
	c, err := kubecluster.Load(dir, log)
	if err != nil {
		return err
	}
	return c.Stop()
}
