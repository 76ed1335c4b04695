// cache.h — run a transformer over a token dataset and keep only the hook points asked for.
//
// Two halves, both used by every analysis verb (cache, probe, pca, lens, ...):
//
//   CacheData   the token sequences an analysis runs on, made once up front (tokens are small):
//               random / repeat / mixed sequences from a seed, windows of a text file, or the
//               rows of a token .npy file; with the facts a built-in label needs (where the
//               repeated segment starts, which sequences repeat).
//   cache_run   forward passes in batches with one forward hook per matched hook point. Each
//               hook copies the chosen positions of its point either into a streaming .npy
//               writer (out_dir set: nothing but one batch is ever held) or into one array per
//               point in memory (moderate sizes: probes, PCA). Points nobody asked for are never
//               copied, and hook_result (each head's output) is computed only when asked for.
//
//     CacheData d;
//     CacheDataOpts dopt = {.n_seqs = 256, .seed = 0, .use_bos = 1};
//     if (cache_data_make(&d, "repeat", &m->cfg, &dopt)) ... err_msg() ...
//     const char *hooks[] = {"blocks.*.hook_resid_post"};
//     CacheOpts o = {.hooks = hooks, .n_hooks = 1, .batch = 32};
//     Cache c;
//     if (cache_run(m, &d, &o, &c)) ...
//     const CachePoint *p = cache_get(&c, "blocks.1.hook_resid_post");  // p->data [N, T, D]
//     cache_free(&c);
//     cache_data_free(&d);
//
// Shapes. A point's array is the hook point's shape with the batch axis replaced by all N
// sequences and the position axis cut to the chosen positions P: [N, P, D] for the residual
// stream, [N, P, H, dh] for hook_z, [N, H, P, T] for hook_pattern / hook_attn_scores (the query
// axis is the one selected; keys stay whole). Files are float32 .npy of exactly that shape.
//
// Written by cache_run with out_dir (file names are the hook names):
//   OUT/<hook name>.npy   one per matched point, e.g. OUT/blocks.0.hook_resid_post.npy
//   OUT/tokens.npy        int32 [N, T] the token ids (all positions)
//   OUT/index.json        {"data": spec, "n_seqs": N, "seq_len": T, "positions": [...],
//                          "repeat_start": k or null, "tokens": {...},
//                          "hooks": [{"name", "file", "shape", "dtype"}, ...]}
// Each file appears whole or not at all (model/fileio), and index.json is written last: a
// folder with an index.json holds a complete cache.
#ifndef MECHLAB_CACHE_H
#define MECHLAB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/npy.h"
#include "model/transformer.h"
#include "train/safetensors.h"

// ---- the data ------------------------------------------------------------------------------

typedef enum {
    CACHE_DATA_RANDOM,  // uniform random tokens
    CACHE_DATA_REPEAT,  // [BOS] r_1..r_L r_1..r_L (datasets/tokens.h)
    CACHE_DATA_MIXED,   // repeat sequences, half of them (chosen by the seed) with the second
                        // segment redrawn at random: "is this token a repeat?" is then not a
                        // function of position alone
    CACHE_DATA_TEXT,    // windows of a text file, one token per byte
    CACHE_DATA_TOKENS,  // the rows of an integer .npy file [N, T]
} CacheDataKind;

typedef struct {
    int n_seqs;     // sequences to make (0 → 256); a token file: the first n_seqs rows (0 = all)
    int seq_len;    // T (0 → n_ctx); a token file has its own width
    uint64_t seed;  // synthetic sequences, text windows, the mixed choice
    int use_bos;    // repeat / mixed: every sequence starts with BOS (id d_vocab − 1)
    // text: the checkpoint's vocabulary (byte of each id); NULL → the file's sorted distinct bytes
    const unsigned char *text_vocab;
    int text_vocab_n;
} CacheDataOpts;

typedef struct {
    CacheDataKind kind;
    char spec[4200];        // as given: "repeat", "text:FILE", "tokens:FILE.npy", ...
    int n, T;               // sequences, positions
    int *tokens;            // [n, T]
    int vocab;              // ids are in [0, vocab) (the model's d_vocab)
    int bos;                // BOS id, or -1
    int repeat_start;       // repeat / mixed: first position of the second segment; else -1
    int repeat_len;         // L, the segment length (0 unless repeat / mixed)
    unsigned char *repeats; // [n]: 1 if sequence i repeats its segment (repeat: all; mixed: half)
} CacheData;

// Parses `spec` ("random", "repeat", "mixed", "text:FILE", "tokens:FILE.npy") and makes the
// sequences for a model with config `cfg`. Returns 0, or -1 with err_set (a bad spec, a file that
// cannot be read or holds a token outside [0, d_vocab), a length outside [2, n_ctx], too few
// positions for a repeat). A hostile token file is refused by the .npy reader with its name.
int cache_data_make(CacheData *d, const char *spec, const TfConfig *cfg, const CacheDataOpts *o);
void cache_data_free(CacheData *d);  // a zeroed or freed CacheData is fine

// Fills the data options a checkpoint's __metadata__ records about its training data: the data
// spec (into spec[n], unless spec is NULL), use_bos, seq_len and the text vocabulary (o->text_vocab
// then points into `vocab_buf`, 256 bytes, which the caller keeps alive). Metadata that is absent
// (a checkpoint not written by the trainer) leaves the fields untouched; malformed metadata is an
// error naming the file.
int cache_ckpt_data(const StFile *f, const char *path, CacheDataOpts *o, char *spec, size_t n,
                    unsigned char *vocab_buf);

// targets[n, T]: the next token (tokens[i, t+1]); -1 at the last position.
void cache_data_targets(const CacheData *d, int *targets);

// Built-in labels, one per token [n, T] (a negative label means "no label here"):
//   repeat    1 if the token already occurred earlier in its sequence (BOS excluded), else 0
//             (BOS itself: -1). On repeat data that is the second segment; on mixed data it is
//             not a function of position.
//   token     the token id
//   next      the next token id (-1 at the last position)
//   position  the position t
// Returns 0, or -1 with err_set naming the accepted names.
int cache_label(const CacheData *d, const char *name, int *labels);

// Positions: "all", "repeat" (the second segment of repeat / mixed data), "first" (the first
// segment), or a comma-separated list of positions and Python-style slices, negative counting
// from the end: "0,3,5:9,-1", "8:", ":-1". The result is sorted and without duplicates (*pos is
// malloc'd; the caller frees it). Returns 0, or -1 with err_set (a bad item, a position outside
// [0, T), an empty selection, a keyword the data does not support).
int cache_parse_pos(const char *spec, const CacheData *d, int **pos, int *n_pos);

// ---- caching -------------------------------------------------------------------------------

typedef struct {
    char name[64];
    int ndim;                       // shape as described at the top, axis 0 = sequences
    int64_t shape[NPY_MAX_DIMS];
    int pos_axis;                   // 1, or 2 for [N, H, P, T] attention patterns/scores
    size_t seq_floats;              // floats per sequence (product of shape[1..])
    float *data;                    // memory mode: [shape] (malloc'd); NULL in file mode
} CachePoint;

typedef struct {
    int n_points;
    CachePoint *points;  // in forward order
    int n_pos;
    int *pos;            // positions kept
} Cache;

typedef struct {
    const char *const *hooks;  // glob patterns (hooks.h); each must match some hook point
    int n_hooks;
    const int *pos;            // positions to keep (ascending, within [0, T)); NULL = all
    int n_pos;
    int batch;                 // sequences per forward pass (1..m->max_batch; 0 → max_batch)
    const char *out_dir;       // write the files listed at the top; NULL: keep in memory
    size_t max_bytes;          // memory mode: refuse to hold more than this (0 → 1 GiB)
} CacheOpts;

// Runs m over every sequence of d and caches the matched hook points. Returns 0, or -1 with
// err_set: a pattern that matches no hook point ("hook pattern 'x' matches no hook point of this
// model"), a bad batch or position list, memory mode over max_bytes, an I/O error (no file is
// left half-written: each appears whole on success or not at all). On failure c is empty
// (cache_free is still fine).
int cache_run(Transformer *m, const CacheData *d, const CacheOpts *o, Cache *c);
void cache_free(Cache *c);  // a zeroed or freed Cache is fine

// The point called `name`, or NULL (err_set) if it was not cached.
const CachePoint *cache_get(const Cache *c, const char *name);

// The hook points that the patterns match, in forward order, without duplicates: names[i] point
// into the model (valid while it lives), *names is malloc'd. Returns 0, or -1 with err_set for a
// pattern that matches nothing.
int cache_match(const Transformer *m, const char *const *patterns, int n_patterns,
                const char ***names, int *n_names);

#endif
