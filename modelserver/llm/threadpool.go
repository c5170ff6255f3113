package llm

/*
#include <stdbool.h>
#include <stdint.h>

// Declared here rather than through ggml.h and llama.h, whose include paths
// belong to the binding's packages (as in log.go).
struct ggml_threadpool;
struct llama_context;

// ggml.h's struct ggml_threadpool_params, with GGML_MAX_N_THREADS 512.
struct zdml_threadpool_params {
	bool     cpumask[512];
	int      n_threads;
	int      prio;
	uint32_t poll;
	bool     strict_cpu;
	bool     paused;
};

void ggml_threadpool_params_init(struct zdml_threadpool_params *p, int n_threads);
struct ggml_threadpool *ggml_threadpool_new(struct zdml_threadpool_params *p);
void llama_attach_threadpool(struct llama_context *ctx, struct ggml_threadpool *tp, struct ggml_threadpool *tp_batch);
uint32_t llama_n_ctx(const struct llama_context *ctx);
int32_t llama_n_threads(struct llama_context *ctx);

// zdml_threadpool_new makes a pool whose workers sleep between graphs
// (poll 0) instead of spinning for the next one.
static struct ggml_threadpool *zdml_threadpool_new(int n_threads) {
	struct zdml_threadpool_params p;
	ggml_threadpool_params_init(&p, n_threads);
	p.poll = 0;
	return ggml_threadpool_new(&p);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// threadpool is the context's ggml worker threads, created once.
//
// Without one, ggml creates threads-1 fresh worker threads for every decode
// and joins them at its end. The kernel places a new thread when it is
// created, and on a machine whose every core runs a decode thread, that is
// exactly when the HTTP handler goroutine and the client are running with the
// token just produced: the worker lands on the decode thread's own core, the
// two spin at ggml's barriers in turn, one 4 ms tick at a time, while another
// core idles (perf sched showed it on 2 cores, 2 threads: HTTP at two thirds
// of the plain binding loop's speed). Persistent workers keep their core. They
// sleep on a condition variable between graphs (no polling), so an idle or
// slow-streaming server spins no CPU beside the other color.
type threadpool struct {
	c *C.struct_ggml_threadpool
}

// attachThreadpool gives lc a persistent pool of threads workers, for
// generation and prompt batches alike. nCtx is the context size lc was
// created with, to check that the pointer read out of the binding is right.
func attachThreadpool(lc *llama.Context, threads, nCtx int) (*threadpool, error) {
	c, err := contextPointer(lc)
	if err != nil {
		return nil, err
	}
	if got, gotThreads := int(C.llama_n_ctx(c)), int(C.llama_n_threads(c)); got != nCtx || gotThreads != threads {
		return nil, fmt.Errorf("llama context reports n_ctx %d, %d threads: want %d, %d", got, gotThreads, nCtx, threads)
	}
	tp := C.zdml_threadpool_new(C.int(threads))
	if tp == nil {
		return nil, errors.New("ggml_threadpool_new failed")
	}
	C.llama_attach_threadpool(c, tp, tp)
	return &threadpool{c: tp}, nil
}

// contextPointer reads the llama_context pointer out of the binding's
// Context, whose only way to it is an unexported first field: it checks that
// field's name, type and offset first, so a binding that changes them yields
// an error, not a bad pointer.
func contextPointer(lc *llama.Context) (*C.struct_llama_context, error) {
	t := reflect.TypeFor[llama.Context]()
	if t.NumField() == 0 {
		return nil, errors.New("llama.Context has no fields")
	}
	f := t.Field(0)
	if f.Name != "c" || f.Offset != 0 || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Name() != "_Ctype_struct_llama_context" {
		return nil, fmt.Errorf("llama.Context's first field is %s %s, not c *C.struct_llama_context", f.Name, f.Type)
	}
	c := *(**C.struct_llama_context)(unsafe.Pointer(lc))
	if c == nil {
		return nil, errors.New("llama.Context holds no context")
	}
	return c, nil
}
