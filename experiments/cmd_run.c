// mechlab list / mechlab run <experiment> — the experiment table.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "experiments.h"
#include "verbs.h"

static const Experiment EXPERIMENTS[] = {
    {"induction", "Elhage et al. 2021; Olsson et al. 2022 - induction heads, phase change, K-composition", run_induction},
    {"sae-toy", "Sharkey et al. 2022 - sparse autoencoders recover features from superposition", run_sae_toy},
    {"fashion", "a CNN on Fashion-MNIST, dissected: feature visualisation, attribution, probes", run_fashion},
    {"curves", "Olah et al. 2020; Cammarata et al. 2020 - oriented line/curve detectors in a small CNN", run_curves},
    {"superposition", "Elhage et al. 2022 - Toy Models of Superposition", run_superposition},
    {NULL, NULL, NULL},  // end
};

int cmd_list(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("Usage: mechlab list\nList the experiments 'mechlab run' knows, one per line.\n");
        return EXIT_OK;
    }
    if (argc > 1) return cli_usage("list", "takes no arguments");
    for (const Experiment *e = EXPERIMENTS; e->name; e++) printf("%-14s %s\n", e->name, e->reproduces);
    return EXIT_OK;
}

int cmd_run(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "Usage: mechlab run <experiment> [options]\n"
                   "Run a reproducible experiment; it writes runs/<experiment>/ (or --out DIR) with\n"
                   "report.html and summary.json. 'mechlab run <experiment> --help' lists its\n"
                   "options. Experiments:\n");
        for (const Experiment *e = EXPERIMENTS; e->name; e++)
            fprintf(f, "  %-14s %s\n", e->name, e->reproduces);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (const Experiment *e = EXPERIMENTS; e->name; e++)
        if (!strcmp(argv[1], e->name)) return e->run(argc - 1, argv + 1);
    return cli_usage("run", "no experiment named '%s' (see 'mechlab list')", argv[1]);
}
