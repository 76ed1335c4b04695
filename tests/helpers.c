#include "helpers.h"

#include "model/err.h"
#include "model/fileio.h"
#include "train/tf_train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

void test_allclose(const float *a, const float *b, size_t n, double atol, double rtol,
                   const char *what, const char *file, int line) {
    size_t bad = n;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            bad = i;
            break;
        }
    }
    if (bad < n)
        cr_assert_fail("%s:%d: %s not close: first bad index %zu: %.9g vs %.9g; max |diff| %.3g "
                "(atol %.3g, rtol %.3g, n %zu)",
                file, line, what, bad, (double)a[bad], (double)b[bad], max_abs_diff(a, b, n), atol,
                rtol, n);
}

int run_cli(const char *args, const char *outdir) {
    const char *cli = getenv("MECHLAB_CLI");
    if (!cli) cli = "build/mechlab";
    size_t n = strlen(cli) + strlen(args) + 2 * strlen(outdir) + 64;
    char *cmd = malloc(n);
    snprintf(cmd, n, "%s %s >%s/out.txt 2>%s/err.txt </dev/null", cli, args, outdir, outdir);
    int st = system(cmd);
    free(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

void make_tmpdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/mechlab-test-XXXXXX");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

void rm_tree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "rm_tree: could not remove %s\n", dir);
}

void train_tiny_transformer(const char *out, long steps, float lr, unsigned long long seed) {
    TfTrainSpec s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "repeat");
    s.use_bos = 1;
    s.model = (TfConfig){.n_layers = 2, .d_model = 16, .n_heads = 2, .d_head = 8, .d_mlp = 32,
                         .n_ctx = 12, .d_vocab = 12, .act_fn = TF_ACT_GELU_NEW,
                         .normalization_type = TF_NORM_LN, .eps = 1e-5f};
    s.batch = 4;
    s.seed = seed;
    s.eval_batches = 1;
    s.train.steps = steps;
    s.train.clip = 1.0;
    s.train.optim = optim_defaults(OPTIM_ADAMW);
    s.train.sched = (Sched){.kind = SCHED_CONSTANT, .lr = lr, .total = steps};
    s.train.out_dir = out;
    s.train.quiet = 1;
    TfTrainer *t = tftrain_create(&s);
    cr_assert_not_null(t, "%s", err_msg());
    cr_assert_eq(tftrain_run(t), 0, "%s", err_msg());
    tftrain_free(t);
}

int run_clif(const char *outdir, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run_cli(args, outdir);
}

char *read_in(const char *dir, const char *file) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    char *s = read_text(p);
    cr_assert_not_null(s, "%s missing", p);
    return s;
}

void assert_same_run_files(const char *a, const char *b) {
    static const char *const files[] = {"model.safetensors", "optim.safetensors", "metrics.csv"};
    for (int i = 0; i < 3; i++) {
        char pa[512], pb[512], *da, *db;
        size_t la, lb;
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        cr_assert_eq(fileio_read_all(pa, 1 << 26, &da, &la), 0, "%s", err_msg());
        cr_assert_eq(fileio_read_all(pb, 1 << 26, &db, &lb), 0, "%s", err_msg());
        int same = la == lb && !memcmp(da, db, la);
        free(da);
        free(db);
        cr_assert(same, "%s differs between %s and %s", files[i], a, b);
    }
}
