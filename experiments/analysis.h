// analysis.h — what the analysis verbs (cache, probe, pca, lens) share: the checkpoint and data
// options, opening a model with the data it was trained on as the default, and small writers for
// the files every verb leaves behind.
//
// Data options (each verb's --help prints ANA_DATA_HELP):
//   --data SPEC     random | repeat | mixed | text:FILE | tokens:FILE.npy  [the checkpoint's own]
//   --n-seqs N      sequences [256; token file: all] --seq-len T   positions [the checkpoint's, or n_ctx]
//   --bos/--no-bos  BOS first (repeat, mixed) [the checkpoint's]
//   --seed S        data seed [0]            --batch B     sequences per forward pass [32]
//   --pos LIST      positions: all, repeat, first, or 0,3,5:9,-1  [all]
//   --threads N
#ifndef MECHLAB_ANALYSIS_H
#define MECHLAB_ANALYSIS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/cache.h"
#include "model/buf.h"
#include "model/transformer.h"

// getopt_long values of the shared options (verbs number their own from 256).
enum { ANA_DATA = 400, ANA_NSEQS, ANA_SEQLEN, ANA_BOS, ANA_NOBOS, ANA_SEED, ANA_BATCH, ANA_POS,
       ANA_THREADS };

#define ANA_DATA_OPTIONS                                                                   \
    {"data", 1, 0, ANA_DATA}, {"n-seqs", 1, 0, ANA_NSEQS}, {"seq-len", 1, 0, ANA_SEQLEN},  \
        {"bos", 0, 0, ANA_BOS}, {"no-bos", 0, 0, ANA_NOBOS}, {"seed", 1, 0, ANA_SEED},     \
        {"batch", 1, 0, ANA_BATCH}, {"pos", 1, 0, ANA_POS}, {"threads", 1, 0, ANA_THREADS}

#define ANA_DATA_HELP                                                                        \
    "Data:\n"                                                                                \
    "  --data SPEC      random, repeat, mixed (repeat with half the sequences' second\n"     \
    "                   segment redrawn), text:FILE, tokens:FILE.npy\n"                   \
    "                   [the checkpoint's training data, else random]\n"                \
    "  --n-seqs N       sequences [256]; of a token file, its first N [all rows]\n"          \
    "  --seq-len T      positions per sequence            [the checkpoint's, or n_ctx]\n"    \
    "  --bos, --no-bos  repeat/mixed sequences start with BOS  [the checkpoint's]\n"         \
    "  --seed S         seed of the data                                        [0]\n"      \
    "  --pos LIST       positions: all, repeat, first, or a list like 0,3,5:9,-1  [all]\n"  \
    "  --batch B        sequences per forward pass                              [32]\n"     \
    "  --threads N      worker threads\n"

typedef struct {
    const char *data;   // --data, or NULL for the checkpoint's
    long n_seqs, seq_len, batch, threads;
    unsigned long long seed;
    int bos;            // -1: the checkpoint's; 0/1 forced
    const char *pos;    // --pos, or NULL for all
} AnaOpts;

// Defaults for the fields above.
AnaOpts ana_defaults(void);

// Handles a shared option `c` with argument `arg`: 1 if handled, 0 if `c` is not one of them,
// -1 on a usage error (already printed as "mechlab VERB: ...").
int ana_option(AnaOpts *a, const char *verb, int c, const char *arg);

typedef struct {
    char ckpt[4096];     // the checkpoint file
    Transformer *m;      // loaded for batches of a->batch
    CacheData d;         // the sequences
    int *pos, n_pos;     // the positions (--pos), ascending
} AnaRun;

// Loads the checkpoint (a file or a run folder), reads the data it was trained on for the
// defaults, makes the sequences and parses the positions. Returns 0, or -1 with err_set (the run
// is then empty; ana_close is still fine).
int ana_open(AnaRun *r, const char *ckpt_arg, const AnaOpts *a);
void ana_close(AnaRun *r);

// "[2, 3, 4]" for a shape, into out[n]; returns out.
const char *ana_shape_str(char *out, size_t n, int ndim, const int64_t *shape);
// "0:32" style summary of a sorted position list (ranges joined), into out[n]; returns out.
const char *ana_pos_str(char *out, size_t n, const int *pos, int n_pos);

// Joins dir and name ("DIR/name") into out[n]; -1 with err_set if too long.
int ana_path(char *out, size_t n, const char *dir, const char *name);
// Writes a Buf to DIR/name atomically (fails if the Buf ran out of memory).
int ana_write(const char *dir, const char *name, const Buf *b);

#endif
