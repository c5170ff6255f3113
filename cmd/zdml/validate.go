package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/zero-downtime-ml/zdml/spec"
)

func init() {
	register("validate", "check a desired.yaml file: zdml validate FILE [--models-dir DIR]", runValidate)
}

// runValidate checks one desired.yaml on its own, as CI or a pre-commit hook
// would; with --models-dir it also resolves the model file, so a typo in
// spec.model.path is caught before the reconciler's pre-flight.
func runValidate(_ context.Context, _ *slog.Logger, args []string) error {
	return validateCmd(os.Stdout, args)
}

func validateCmd(out io.Writer, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	modelsDir := fs.String("models-dir", os.Getenv("ZDML_MODELS_DIR"), "also check that the model file exists in `DIR` (env ZDML_MODELS_DIR)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zdml validate FILE [--models-dir DIR]")
		fs.PrintDefaults()
	}
	file, rest := splitFile(args)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if file == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("want exactly one FILE")
	}
	doc, err := spec.Load(file)
	if err != nil {
		return err
	}
	if *modelsDir != "" {
		p, err := doc.ModelPath(*modelsDir)
		if err != nil {
			return fmt.Errorf("%s: spec.model.path: %w", file, err)
		}
		fmt.Fprintf(out, "%s: model file %s\n", file, p)
	}
	fmt.Fprintf(out, "%s: ok (%s %s, strategy %s, runtime %s, spec hash %.12s)\n", file,
		doc.Spec.Model.Name, doc.Spec.Model.Version, doc.Spec.Strategy.Type, doc.Spec.Runtime, doc.Spec.Hash())
	return nil
}

// splitFile lets FILE come before the flags (`zdml validate desired.yaml
// --models-dir models`), which the flag package alone does not allow.
func splitFile(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}
