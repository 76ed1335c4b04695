// experiments.h — the reproducible experiments `mechlab run` knows. Each is one file in
// experiments/ with one entry function, listed in the table in cmd_run.c. An experiment writes
// runs/<name>/ (or --out DIR) with report.html and summary.json (reproduced numbers beside the
// published ones); it takes --help like every verb.
#ifndef MECHLAB_EXPERIMENTS_H
#define MECHLAB_EXPERIMENTS_H

typedef struct {
    const char *name;
    const char *reproduces;  // the published result, one line
    int (*run)(int argc, char **argv);  // argv[0] is the experiment name
} Experiment;

#endif
