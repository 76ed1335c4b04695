// mechlab — the command. Dispatches to one function per verb (see verbs.h).
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "verbs.h"

static const CliVerb VERBS[] = {
    {"list", "the reproducible experiments, one line each", cmd_list},
    {"run", "run an experiment: train, analyse, write runs/<name>/report.html", cmd_run},
    {"train", "train a model on a dataset (mechlab train transformer --help)", cmd_train},
    {"inspect", "a checkpoint's config, training state and tensors", cmd_inspect},
    {"eval", "next-token loss of a checkpoint on token sequences (.npy)", cmd_eval},
    {"hooks", "list a transformer's hook points with their shapes", cmd_hooks},
    {"heads", "attention-head scores, circuits, composition and ablations of a checkpoint", cmd_heads},
    {"cache", "write chosen hook points over a dataset as .npy files", cmd_cache},
    {"probe", "linear probes on a hook point (or an .npy array), with a control task", cmd_probe},
    {"pca", "PCA of activations, a weight matrix or an .npy array: scree, projections", cmd_pca},
    {"lens", "logit lens by layer and direct logit attribution by component", cmd_lens},
    {"patch", "activation, path and attribution patching on clean/corrupted pairs", cmd_patch},
    {"sae", "train a sparse autoencoder on a hook point; feature dashboard", cmd_sae},
    {"featviz", "feature visualisations of a CNN checkpoint's channels (PNG grid)", cmd_featviz},
    {"version", "print the version", cmd_version},
};
#define NVERBS (int)(sizeof VERBS / sizeof VERBS[0])

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab <verb> [options]\n"
            "A mechanistic-interpretability lab: train tiny models, then take them apart.\n\n"
            "Verbs:\n");
    for (int i = 0; i < NVERBS; i++) fprintf(f, "  %-12s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(f,
            "\nOptions:\n"
            "  -h, --help     show this help\n"
            "  -V, --version  show the version\n\n"
            "Every verb takes --help. Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

int cmd_version(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("Usage: mechlab version\nPrint mechlab's version.\n");
        return EXIT_OK;
    }
    printf("mechlab %s\n", MECHLAB_VERSION);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help") || !strcmp(verb, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(verb, "-V") || !strcmp(verb, "--version")) return cmd_version(0, NULL);
    for (int i = 0; i < NVERBS; i++)
        if (!strcmp(verb, VERBS[i].name)) return VERBS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mechlab: '%s' is not a verb. Try 'mechlab --help'.\n", verb);
    return EXIT_USAGE;
}
