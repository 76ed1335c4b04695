// mechlab eval — next-token loss of a transformer checkpoint on token sequences from a .npy file,
// optionally writing the logits.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "datasets/npy.h"
#include "model/err.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f, "Usage: mechlab eval CKPT --tokens FILE.npy [--logits OUT.npy]\n"
               "Mean next-token loss of a transformer on integer token sequences [batch, pos]\n"
               "(any integer dtype; pos <= n_ctx; every id < d_vocab).\n"
               "  --tokens FILE.npy   the sequences (required)\n"
               "  --logits OUT.npy    also write the logits [batch, pos, d_vocab] as float32\n"
               "  --batch N           sequences per forward pass [16]\n"
               "  --threads N         worker threads\n"
               "  -h, --help\n");
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {{"tokens", 1, 0, 't'}, {"logits", 1, 0, 'l'},
                                         {"batch", 1, 0, 'b'},  {"threads", 1, 0, 'j'},
                                         {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    const char *tok_path = NULL, *logits_path = NULL;
    long batch = 16, threads = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case 't': tok_path = optarg; break;
        case 'l': logits_path = optarg; break;
        case 'b': if (cli_int("eval", "--batch", optarg, 1, 4096, &batch)) return EXIT_USAGE; break;
        case 'j': if (cli_int("eval", "--threads", optarg, 1, 256, &threads)) return EXIT_USAGE; break;
        default: return cli_usage("eval", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage("eval", "expected one checkpoint");
    if (!tok_path) return cli_usage("eval", "--tokens FILE.npy is required");
    if (threads && pool_set_threads((int)threads)) return cli_fail_err();
    char path[4096];
    if (cli_ckpt_path(argv[optind], path, sizeof path)) return cli_fail_err();

    int64_t *raw = NULL, shape[NPY_MAX_DIMS];
    int ndim;
    if (npy_load_i64(tok_path, &raw, &ndim, shape)) return cli_fail_err();
    StFile f;
    Transformer *m = tf_ckpt_load(path, (int)batch, &f);
    if (!m) {
        free(raw);
        return cli_fail_err();
    }
    st_close(&f);
    int rc = EXIT_FAIL;
    int *tok = NULL, *tg = NULL;
    NpyWriter w = {0};
    int nb = 0, T = 0, V = m->cfg.d_vocab;
    if (ndim != 2 || shape[0] < 1 || shape[1] < 2) {
        cli_fail("%s: tokens must be a 2-D array [batch, pos] with pos >= 2, got %d-D", tok_path,
                 ndim);
        goto done;
    }
    if (shape[1] > m->cfg.n_ctx) {
        cli_fail("%s: sequences of %lld tokens are longer than the model's n_ctx %d", tok_path,
                 (long long)shape[1], m->cfg.n_ctx);
        goto done;
    }
    nb = (int)shape[0];
    T = (int)shape[1];
    for (size_t i = 0; i < (size_t)nb * T; i++)
        if (raw[i] < 0 || raw[i] >= V) {
            cli_fail("%s: token %lld at [%zu, %zu] is outside the vocabulary [0, %d)", tok_path,
                     (long long)raw[i], i / T, i % T, V);
            goto done;
        }
    tok = malloc(sizeof(int) * batch * T);
    tg = malloc(sizeof(int) * batch * T);
    if (!tok || !tg) {
        cli_fail("out of memory");
        goto done;
    }
    int64_t lshape[3] = {nb, T, V};
    if (logits_path && npy_writer_begin(&w, logits_path, NPY_F32, 3, lshape)) {
        cli_fail_err();
        goto done;
    }
    double sum = 0;
    long count = 0;
    for (int b0 = 0; b0 < nb; b0 += (int)batch) {
        int B = nb - b0 < batch ? nb - b0 : (int)batch;
        for (int i = 0; i < B * T; i++) {
            tok[i] = (int)raw[(size_t)b0 * T + i];
            tg[i] = (i % T == T - 1) ? -1 : (int)raw[(size_t)b0 * T + i + 1];
        }
        double loss;
        if (tf_forward(m, tok, tg, B, T, NULL, &loss)) {
            cli_fail_err();
            goto done;
        }
        sum += loss * (double)B * (T - 1);
        count += (long)B * (T - 1);
        if (logits_path && npy_writer_write(&w, tf_act(m, "logits").data, B)) {
            cli_fail_err();
            goto done;
        }
    }
    if (logits_path && npy_writer_commit(&w)) {
        cli_fail_err();
        goto done;
    }
    printf("loss %.6f nats over %ld predictions (%d sequences x %d positions)\n", sum / count,
           count, nb, T - 1);
    if (logits_path) printf("wrote %s [%d, %d, %d] float32\n", logits_path, nb, T, V);
    rc = EXIT_OK;
done:
    if (w.open) npy_writer_abort(&w);
    free(raw);
    free(tok);
    free(tg);
    tf_free(m);
    return rc;
}
