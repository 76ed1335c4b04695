// mechlab featviz — feature visualisations of a CNN checkpoint's channels as a PNG grid.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "interp/featviz.h"
#include "model/err.h"
#include "model/pool.h"
#include "train/cnn_train.h"
#include "verbs.h"

static void usage(FILE *f) {
    FvConfig d = featviz_defaults();
    fprintf(f,
        "Usage: mechlab featviz CKPT --point NAME --out FILE.png [options]\n"
        "Activation maximisation (interp/featviz.h) of channels of a CNN checkpoint (a run folder\n"
        "or .safetensors file): one grid row per channel, one column per seed. Prints each\n"
        "channel's activation at the start and the end.\n\n"
        "  --point NAME     hook point (layers.{i}.hook_out; see mechlab inspect) or logits\n"
        "  --channels LIST  comma-separated channels, or all                      [all]\n"
        "  --unit           maximise the centre unit instead of the channel's mean\n"
        "  --seeds N  [%d]   --steps N  [%d]   --lr X  [%g]   --jitter N  [%d]\n"
        "  --l2 X  [%g]   --tv X  [%g]\n"
        "  --pixel          pixel parameterisation instead of the Fourier one\n"
        "  --no-range       do not squash the image into the pixel range [0, 1] (in the\n"
        "                   model's normalised input space)\n"
        "  --scale N        PNG upscaling                                           [4]\n"
        "  --seed S  [0]    --threads N\n"
        "  -h, --help\n",
        d.n_seeds, d.steps, d.lr, d.jitter, d.l2, d.tv);
}

enum { O_POINT = 256, O_CH, O_UNIT, O_SEEDS, O_STEPS, O_LR, O_JIT, O_L2, O_TV, O_PIXEL, O_NORANGE,
       O_SCALE, O_SEED, O_THREADS, O_OUT };

int cmd_featviz(int argc, char **argv) {
    static const struct option opts[] = {
        {"point", 1, 0, O_POINT}, {"channels", 1, 0, O_CH},   {"unit", 0, 0, O_UNIT},
        {"seeds", 1, 0, O_SEEDS}, {"steps", 1, 0, O_STEPS},   {"lr", 1, 0, O_LR},
        {"jitter", 1, 0, O_JIT},  {"l2", 1, 0, O_L2},         {"tv", 1, 0, O_TV},
        {"pixel", 0, 0, O_PIXEL}, {"no-range", 0, 0, O_NORANGE}, {"scale", 1, 0, O_SCALE},
        {"seed", 1, 0, O_SEED},   {"threads", 1, 0, O_THREADS}, {"out", 1, 0, O_OUT},
        {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *V = "featviz", *point = NULL, *chs = "all", *out = NULL;
    FvConfig fc = featviz_defaults();
    int unit = 0, range = 1;
    long scale = 4, threads = 0, v;
    double x;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_POINT: point = optarg; break;
        case O_CH: chs = optarg; break;
        case O_OUT: out = optarg; break;
        case O_UNIT: unit = 1; break;
        case O_PIXEL: fc.fourier = 0; break;
        case O_NORANGE: range = 0; break;
        case O_LR: case O_L2: case O_TV:
            if (cli_float(V, cli_optname(opts, c), optarg, &x)) return EXIT_USAGE;
            if (c == O_LR) fc.lr = (float)x;
            if (c == O_L2) fc.l2 = (float)x;
            if (c == O_TV) fc.tv = (float)x;
            break;
        case '?': return cli_usage(V, "unknown or incomplete option");
        default:
            if (cli_int(V, cli_optname(opts, c), optarg, 0, 1L << 30, &v)) return EXIT_USAGE;
            if (c == O_SEEDS) fc.n_seeds = (int)v;
            if (c == O_STEPS) fc.steps = (int)v;
            if (c == O_JIT) fc.jitter = (int)v;
            if (c == O_SCALE) scale = v;
            if (c == O_SEED) fc.seed = (uint64_t)v;
            if (c == O_THREADS) threads = v;
        }
    }
    if (optind != argc - 1) return cli_usage(V, "expected one checkpoint");
    if (!point) return cli_usage(V, "--point NAME is required");
    if (!out) return cli_usage(V, "--out FILE.png is required");
    if (fc.n_seeds < 1 || fc.n_seeds > 64) return cli_usage(V, "--seeds must be in 1..64");
    if (scale < 1 || scale > 64) return cli_usage(V, "--scale must be in 1..64");
    if (threads > 0 && pool_set_threads((int)threads)) return cli_fail_err();
    char path[4096];
    if (cli_ckpt_path(argv[optind], path, sizeof path)) return cli_fail_err();
    StFile f;
    CnnCkptConfig cc;
    Cnn *m = cnn_ckpt_load(path, fc.n_seeds, &f, &cc);
    if (!m) return cli_fail_err();
    st_close(&f);
    int K, h, w, rc = EXIT_FAIL;
    int *list = NULL;
    float *img = NULL;
    double *a1 = NULL;
    if (featviz_point_shape(m, point, &K, &h, &w)) goto done;
    list = malloc(sizeof(int) * K);
    if (!list) goto done;
    int n = 0;
    if (!strcmp(chs, "all")) {
        for (; n < K; n++) list[n] = n;
    } else {
        for (const char *p = chs; *p;) {
            char *end;
            long ch = strtol(p, &end, 10);
            if (end == p || ch < 0 || ch >= K || n == K || (*end && *end != ',')) {
                cnn_free(m);
                free(list);
                return cli_usage(V, "--channels: '%s' is not a list of channels in 0..%d", chs, K - 1);
            }
            list[n++] = (int)ch;
            p = *end ? end + 1 : end;
        }
    }
    if (range) {
        fc.range_lo = (0 - cc.input_mean) / cc.input_std;
        fc.range_hi = (1 - cc.input_mean) / cc.input_std;
    }
    size_t per = (size_t)m->C * m->H * m->W;
    img = malloc(sizeof(float) * per * n * fc.n_seeds);
    a1 = malloc(sizeof(double) * n * fc.n_seeds);
    if (!img || !a1) {
        err_set("featviz: out of memory");
        goto done;
    }
    if (featviz_save_grid(m, point, list, n, unit ? FV_UNIT : FV_CHANNEL, &fc, out, (int)scale, img, a1))
        goto done;
    for (int i = 0; i < n; i++) {
        double mean = 0;
        for (int s = 0; s < fc.n_seeds; s++) mean += a1[i * fc.n_seeds + s] / fc.n_seeds;
        printf("%s channel %d: activation %.4f (mean over %d seeds)\n", point, list[i], mean,
               fc.n_seeds);
    }
    fprintf(stderr, "wrote %s (%d rows x %d seeds)\n", out, n, fc.n_seeds);
    rc = EXIT_OK;
done:
    if (rc != EXIT_OK) cli_fail_err();
    free(list);
    free(img);
    free(a1);
    cnn_free(m);
    return rc;
}
