// mechlab hooks — list every hook point of a transformer checkpoint with its shape.
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "train/tf_checkpoint.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f, "Usage: mechlab hooks CKPT [--batch B] [--pos T]\n"
               "List every hook point of a transformer checkpoint (TransformerLens names) with its\n"
               "shape for a batch of B sequences of T tokens [B = 1, T = n_ctx].\n"
               "  -h, --help\n");
}

int cmd_hooks(int argc, char **argv) {
    static const struct option opts[] = {
        {"batch", 1, 0, 'b'}, {"pos", 1, 0, 'p'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    long B = 1, T = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case 'b': if (cli_int("hooks", "--batch", optarg, 1, 1 << 20, &B)) return EXIT_USAGE; break;
        case 'p': if (cli_int("hooks", "--pos", optarg, 1, 1 << 20, &T)) return EXIT_USAGE; break;
        default: return cli_usage("hooks", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage("hooks", "expected one checkpoint");
    char path[4096];
    if (cli_ckpt_path(argv[optind], path, sizeof path)) return cli_fail_err();
    StFile f;
    Transformer *m = tf_ckpt_load(path, 1, &f);
    if (!m) return cli_fail_err();
    st_close(&f);
    if (T == 0) T = m->cfg.n_ctx;
    if (T > m->cfg.n_ctx) {
        int n_ctx = m->cfg.n_ctx;
        tf_free(m);
        return cli_usage("hooks", "--pos %ld is longer than n_ctx %d", T, n_ctx);
    }
    int n = tf_hook_count(m);
    for (int i = 0; i < n; i++) {
        TfHookInfo h = tf_hook_info(m, i, (int)B, (int)T);
        printf("%-36s [", h.name);
        for (int d = 0; d < h.ndim; d++) printf("%s%d", d ? ", " : "", h.shape[d]);
        printf("]\n");
    }
    printf("%d hook points\n", n);
    tf_free(m);
    return EXIT_OK;
}
