package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/zero-downtime-ml/zdml/models"
)

func init() {
	register("models", "generate, inspect or download GGUF model files", runModels)
}

// modelsCommands are the subcommands of `zdml models`.
var modelsCommands = map[string]func(context.Context, *slog.Logger, []string) error{
	"generate": modelsGenerate,
	"inspect":  modelsInspect,
	"download": modelsDownload,
	"list":     modelsList,
}

func runModels(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) == 0 || modelsCommands[args[0]] == nil {
		return fmt.Errorf("usage: zdml models generate [--dir DIR] [--large] | list | inspect FILE | " +
			"download --url URL --sha256 HEX --out FILE")
	}
	return modelsCommands[args[0]](ctx, log, args[1:])
}

// modelsGenerate writes the generated models; files already present with
// their pinned sha256 are kept.
func modelsGenerate(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("models generate", flag.ContinueOnError)
	dir := fs.String("dir", envOr("ZDML_MODELS_DIR", "models"), "directory to write the models into (env ZDML_MODELS_DIR)")
	large := fs.Bool("large", false, "generate the SmolLM2-1.7B-shaped Q4_0 models instead (2 files of ~1 GB; make models-large)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("models generate: unexpected argument %q", fs.Arg(0))
	}
	start := time.Now()
	opts := []models.GenerateOption{models.WithLogger(log)}
	if *large {
		opts = append(opts, models.WithSpecs(models.LargeCatalog()...))
	}
	results, err := models.Generate(ctx, *dir, opts...)
	if err != nil {
		return err
	}
	written := 0
	for _, r := range results {
		if r.Written {
			written++
		}
	}
	log.Info("models ready", "dir", *dir, "files", len(results), "written", written,
		"seconds", time.Since(start).Seconds())
	return nil
}

// modelsList prints each generated file with the sha256 it has on every
// machine, for pinning in desired.yaml.
func modelsList(_ context.Context, _ *slog.Logger, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("usage: zdml models list")
	}
	for _, s := range models.Catalog() {
		fmt.Printf("%-24s %s\n", s.File, s.SHA256)
	}
	for _, s := range models.LargeCatalog() {
		fmt.Printf("%-24s %s (make models-large)\n", s.File, s.SHA256)
	}
	return nil
}

// modelsInspect prints a model file's header facts as JSON.
func modelsInspect(_ context.Context, _ *slog.Logger, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: zdml models inspect FILE")
	}
	info, err := models.Inspect(args[0])
	if err != nil {
		return err
	}
	return writeJSON(os.Stdout, info)
}

// modelsDownload fetches a model with resume, progress on stderr and sha256
// verification.
func modelsDownload(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("models download", flag.ContinueOnError)
	url := fs.String("url", envOr("ZDML_MODEL_URL", models.SmolLM2URL), "URL of the GGUF file (env ZDML_MODEL_URL)")
	sum := fs.String("sha256", os.Getenv("ZDML_MODEL_SHA256"), "expected sha256, hex; required (env ZDML_MODEL_SHA256)")
	out := fs.String("out", envOr("ZDML_MODEL_OUT", "models/smollm2-1.7b-instruct-q4_k_m.gguf"), "where to write the file (env ZDML_MODEL_OUT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sum == "" {
		return fmt.Errorf("--sha256 is required: copy the file's SHA256 from its page on huggingface.co "+
			"(for %s, the \"SHA256\" line of the file's page), e.g. make model-smollm2 SMOLLM2_SHA256=<hex>", *url)
	}
	d := models.NewDownloader(models.WithDownloadLogger(log), models.WithProgress(os.Stderr, models.IsTerminal(os.Stderr)))
	if err := d.Download(ctx, *url, *sum, *out); err != nil {
		return err
	}
	info, err := models.Inspect(*out)
	if err != nil {
		return fmt.Errorf("downloaded %s has the right sha256 but does not parse: %w", *out, err)
	}
	log.Info("model ready", "file", *out, "architecture", info.Architecture,
		"parameters", info.Parameters, "quantization", info.Quantization)
	return nil
}
