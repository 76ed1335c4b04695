// summary.h — summary.json, the machine-checkable result of an experiment run:
//
//   {"experiment": "induction", "reproduces": "Olsson et al. 2022 ...",
//    "results": {"repeat_half_loss": 0.41, "phase_change_step": 420, ...},
//    "checks": [{"name": "...", "measured": 0.41, "published": "< 1 nat (Olsson et al. fig. 2)",
//                "pass": true}, ...]}
//
// Every reproduced number sits beside the published one; a check that misses says so
// ("pass": false) and the experiment prints it — thresholds are never tuned to make it pass.
#ifndef MECHLAB_SUMMARY_H
#define MECHLAB_SUMMARY_H

#include "model/buf.h"

typedef struct {
    Buf results;  // "key": value pairs, comma-separated
    Buf checks;   // check objects, comma-separated
    char experiment[64];
    char reproduces[512];
    int n_fail;
} Summary;

void summary_init(Summary *s, const char *experiment, const char *reproduces);
void summary_num(Summary *s, const char *key, double v);
void summary_int(Summary *s, const char *key, long v);
void summary_str(Summary *s, const char *key, const char *v);
// Appends raw JSON (an array or object the caller built) under key.
void summary_json(Summary *s, const char *key, const char *json);
// A reproduced number beside the published claim; prints one line to stdout too:
//   "[ok]   repeat-half loss 0.41 (published: < 1 nat)"  or  "[MISS] ...".
void summary_check(Summary *s, const char *name, double measured, const char *published, int pass);
// Writes the JSON atomically. Returns 0, or -1 with err_set.
int summary_save(Summary *s, const char *path);
void summary_free(Summary *s);

#endif
