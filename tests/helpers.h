// helpers.h — what the Criterion tests share.
#ifndef MECHLAB_TEST_HELPERS_H
#define MECHLAB_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

// Fails the current test unless |a[i] - b[i]| <= atol + rtol * |b[i]| for every i. The message
// names `what`, the first bad index with both values, and the max absolute difference overall.
// NaN anywhere fails.
#define assert_allclose(a, b, n, atol, rtol) \
    test_allclose((a), (b), (n), (atol), (rtol), #a, __FILE__, __LINE__)
void test_allclose(const float *a, const float *b, size_t n, double atol, double rtol,
                   const char *what, const char *file, int line);

// Max |a[i] - b[i]| over n elements (double).
double max_abs_diff(const float *a, const float *b, size_t n);

// Runs the mechlab command (path from $MECHLAB_CLI, set by make) with the given argument string
// through /bin/sh; stdout and stderr go to files under `outdir` (out.txt, err.txt). Returns the
// exit status, or -1 if it could not be run.
int run_cli(const char *args, const char *outdir);

// run_cli with the argument string formatted printf-style.
int run_clif(const char *outdir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Reads a whole file into a NUL-terminated malloc'd buffer (NULL if unreadable).
char *read_text(const char *path);

// read_text of dir/file; fails the test (naming the path) if it cannot be read. Caller frees.
char *read_in(const char *dir, const char *file);

// Fails the test unless run folders a and b hold byte-identical model.safetensors,
// optim.safetensors and metrics.csv (what a resumed run must reproduce).
void assert_same_run_files(const char *a, const char *b);

// A fresh empty temporary folder (mkdtemp); caller removes it with rm_tree.
void make_tmpdir(char *buf, size_t n);
void rm_tree(const char *dir);

// Trains a tiny transformer run folder in `out` (2 layers, d_model 16, 2 heads, n_ctx 12, vocab
// 12, LN + GELU, repeat data with BOS, batch 4, AdamW at a constant lr) for `steps` steps: a real
// checkpoint whose metadata the analysis verbs take their defaults from. Fails the test on error.
void train_tiny_transformer(const char *out, long steps, float lr, unsigned long long seed);

// ---- tests/png_reader.c: reading back what the writers produce --------------------------------

#include <stdint.h>

// Bit-at-a-time CRC-32 and the slow Adler-32, sharing nothing with the writers' tables.
uint32_t test_slow_crc32(const uint8_t *p, size_t n);
uint32_t test_slow_adler32(const uint8_t *p, size_t n);

// A PNG made of stored deflate blocks (what interp/png.c writes), parsed from the specification;
// fails the test on anything unexpected. pix is h·w·channels bytes, malloc'd (caller frees).
typedef struct {
    int w, h, channels;
    uint8_t *pix;
    int n_stored_blocks;
} TestPng;
TestPng test_png_decode(const uint8_t *f, size_t n);

// Decodes base64 from s up to the first character that is not base64 (or after '=' padding)
// into out (at most cap bytes); returns the number of bytes.
size_t test_base64_decode(const char *s, uint8_t *out, size_t cap);

#endif
