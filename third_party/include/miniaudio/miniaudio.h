/*
 * Stand-in for miniaudio.h, which the Go module zip of github.com/ollama/ollama
 * drops (it lives under a vendor/ folder). It declares only what llama.cpp's
 * tools/mtmd/mtmd-helper.cpp calls, and every decode fails, so audio input for
 * multimodal models is disabled. Text models, all this project serves, are
 * unaffected. See ../shared/FINDINGS.md.
 */
#ifndef ZDML_MINIAUDIO_STANDIN_H
#define ZDML_MINIAUDIO_STANDIN_H

#include <stddef.h>

#ifndef MA_API
#define MA_API static
#endif

typedef int ma_result;
typedef unsigned long long ma_uint64;
typedef unsigned int ma_uint32;
typedef enum { ma_format_unknown = 0, ma_format_f32 = 5 } ma_format;
typedef struct { ma_format format; ma_uint32 channels; ma_uint32 sampleRate; } ma_decoder_config;
typedef struct { int unused; } ma_decoder;

#define MA_SUCCESS 0
#define MA_NOT_IMPLEMENTED (-29)

MA_API ma_decoder_config ma_decoder_config_init(ma_format f, ma_uint32 ch, ma_uint32 rate) {
    ma_decoder_config c; c.format = f; c.channels = ch; c.sampleRate = rate; return c;
}
MA_API ma_result ma_decoder_init_memory(const void *d, size_t n, const ma_decoder_config *c, ma_decoder *dec) {
    (void)d; (void)n; (void)c; (void)dec; return MA_NOT_IMPLEMENTED;
}
MA_API ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *dec, ma_uint64 *n) {
    (void)dec; if (n) *n = 0; return MA_NOT_IMPLEMENTED;
}
MA_API ma_result ma_decoder_read_pcm_frames(ma_decoder *dec, void *out, ma_uint64 n, ma_uint64 *read) {
    (void)dec; (void)out; (void)n; if (read) *read = 0; return MA_NOT_IMPLEMENTED;
}
MA_API ma_result ma_decoder_uninit(ma_decoder *dec) { (void)dec; return MA_SUCCESS; }

#endif
