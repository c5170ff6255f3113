package llm

/*
// llama_log_set is declared here rather than through llama.h, whose include
// path belongs to the binding's package. The enum ggml_log_level argument of
// the real callback type is an int in the C ABI.
typedef void (*zdml_log_callback)(int level, const char *text, void *user_data);
void llama_log_set(zdml_log_callback cb, void *user_data);
extern void zdmlLlamaLog(int level, char *text, void *user_data);
static void zdml_route_llama_logs(void) { llama_log_set((zdml_log_callback)zdmlLlamaLog, 0); }
*/
import "C"

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"unsafe"
)

// The binding prints llama.cpp's log straight to stderr, gated by
// slog.Default()'s level. This package replaces that callback (after the
// binding's own init, which runs first because this package imports it) and
// routes every line into an injected slog logger instead, so the process's
// stderr stays JSON. llama.cpp's INFO chatter (about 100 lines per load)
// becomes DEBUG; a load captures its lines to explain a failure and to
// report what llama.cpp did (the CPU_REPACK buffer, for one).

// ggml_log_level values.
const (
	ggmlLogDebug = 1
	ggmlLogInfo  = 2
	ggmlLogWarn  = 3
	ggmlLogError = 4
	ggmlLogCont  = 5
)

// logRouter assembles llama.cpp's log fragments into lines and logs them.
type logRouter struct {
	mu        sync.Mutex
	log       *slog.Logger
	partial   strings.Builder
	level     int
	capturing bool
	captured  []logLine
}

type logLine struct {
	level int
	text  string
}

var router = &logRouter{log: slog.New(slog.DiscardHandler)}

func init() { C.zdml_route_llama_logs() }

//export zdmlLlamaLog
func zdmlLlamaLog(level C.int, text *C.char, _ unsafe.Pointer) {
	router.write(int(level), C.GoString(text))
}

// setLogger points llama.cpp's log at log.
func (r *logRouter) setLogger(log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = log.With("component", "llama.cpp")
}

func (r *logRouter) write(level int, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if level != ggmlLogCont {
		r.level = level
	}
	r.partial.WriteString(text)
	s := r.partial.String()
	i := strings.LastIndexByte(s, '\n')
	if i < 0 {
		return
	}
	r.partial.Reset()
	r.partial.WriteString(s[i+1:])
	for _, line := range strings.Split(s[:i], "\n") {
		if line = strings.TrimSpace(line); line != "" {
			r.emit(r.level, line)
		}
	}
}

func (r *logRouter) emit(level int, line string) {
	if r.capturing {
		r.captured = append(r.captured, logLine{level, line})
	}
	lvl := slog.LevelDebug
	switch {
	case level == ggmlLogWarn && strings.Contains(line, "full capacity of the model will not be utilized"):
		// A context window below the trained one is a choice (--ctx), not a problem.
		lvl = slog.LevelInfo
	case level == ggmlLogWarn:
		lvl = slog.LevelWarn
	case level == ggmlLogError:
		lvl = slog.LevelError
	}
	r.log.Log(context.Background(), lvl, "llama.cpp", "line", line)
}

// capture starts keeping every line until the returned function is called,
// which returns them.
func (r *logRouter) capture() (stop func() []logLine) {
	r.mu.Lock()
	r.capturing, r.captured = true, nil
	r.mu.Unlock()
	return func() []logLine {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.capturing = false
		return r.captured
	}
}
