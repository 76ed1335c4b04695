// superposition_internal.h — what the two files of `mechlab run superposition` share
// (experiments/superposition.c: flags, the sparsity sweeps, feature dimensionality, the report;
// experiments/superposition_phase.c: the n = 2, m = 1 phase diagram).
#ifndef MECHLAB_SUPERPOSITION_INTERNAL_H
#define MECHLAB_SUPERPOSITION_INTERNAL_H

#include <stdint.h>

#include "interp/report.h"
#include "interp/summary.h"
#include "model/buf.h"
#include "train/toy_train.h"

#define SUP_MAX_CHECKS 64

typedef struct {
    char name[160];
    char measured[160];
    char published[200];
    int status;  // 1 ok, 0 miss, -1 reported only (no pass criterion)
} SupCheck;

typedef struct {
    const char *out;  // the run folder
    char part_dir[4600];  // <out>/<part> of the part being trained
    long steps;       // > 0: every part trains this many steps; 0: each part's default
    int replicas;     // instances per setting for the sweep, n = 20 and phase parts
    uint64_t seed;
    int progress;     // stderr is a terminal: progress line during training
    Summary sum;
    Report *rep;
    SupCheck checks[SUP_MAX_CHECKS];
    int n_checks, part_first;  // checks so far; the first of the current part
    double train_seconds;      // wall time spent in training, all parts
} SupCtx;

// A check: summary.json entry, the [ok]/[MISS] line on stdout and a row of the report's tables.
// status 1/0 pass/miss; -1 for a number reported beside a published one with no criterion.
void sup_check(SupCtx *c, const char *name, double measured, const char *measured_text,
               const char *published, int status);
// Writes the checks added since the last call as a table in the report.
void sup_flush_checks(SupCtx *c);

// Writes `svg` to <out>/<file> and inlines it in the report with the caption.
int sup_figure(SupCtx *c, const char *file, const Buf *svg, const char *caption);

// Trains a part in <out>/<part>/ (spec->train.out_dir is set here; steps, progress and output
// too). Returns the trained trainer, or NULL with err_set (also when interrupted by a signal).
ToyTrainer *sup_train(SupCtx *c, const char *part, ToyTrainSpec *spec, long default_steps);

// The n = 2, m = 1 phase diagram part (superposition_phase.c).
int sup_phase(SupCtx *c);

#endif
