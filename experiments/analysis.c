#include "analysis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/pool.h"
#include "train/tf_checkpoint.h"

AnaOpts ana_defaults(void) {
    return (AnaOpts){.data = NULL, .n_seqs = 0, .seq_len = 0, .batch = 32, .threads = 0,
                     .seed = 0, .bos = -1, .pos = NULL};
}

int ana_option(AnaOpts *a, const char *verb, int c, const char *arg) {
    long v;
    switch (c) {
    case ANA_DATA: a->data = arg; return 1;
    case ANA_POS: a->pos = arg; return 1;
    case ANA_BOS: a->bos = 1; return 1;
    case ANA_NOBOS: a->bos = 0; return 1;
    case ANA_NSEQS:
        if (cli_int(verb, "--n-seqs", arg, 0, 1L << 24, &v)) return -1;
        a->n_seqs = v;
        return 1;
    case ANA_SEQLEN:
        if (cli_int(verb, "--seq-len", arg, 0, 1L << 20, &v)) return -1;
        a->seq_len = v;
        return 1;
    case ANA_BATCH:
        if (cli_int(verb, "--batch", arg, 1, 4096, &v)) return -1;
        a->batch = v;
        return 1;
    case ANA_THREADS:
        if (cli_int(verb, "--threads", arg, 1, 256, &v)) return -1;
        a->threads = v;
        return 1;
    case ANA_SEED: {
        char *end;
        unsigned long long s = strtoull(arg, &end, 10);
        if (!*arg || *end || arg[0] == '-') {
            cli_usage(verb, "--seed: '%s' is not a whole number >= 0", arg);
            return -1;
        }
        a->seed = s;
        return 1;
    }
    default: return 0;
    }
}

void ana_close(AnaRun *r) {
    if (!r) return;
    tf_free(r->m);
    cache_data_free(&r->d);
    free(r->pos);
    memset(r, 0, sizeof *r);
}

int ana_open(AnaRun *r, const char *ckpt_arg, const AnaOpts *a) {
    memset(r, 0, sizeof *r);
    if (a->threads && pool_set_threads((int)a->threads)) return -1;
    if (cli_ckpt_path(ckpt_arg, r->ckpt, sizeof r->ckpt)) return -1;
    StFile f = {0};
    r->m = tf_ckpt_load(r->ckpt, (int)a->batch, &f);
    if (!r->m) return -1;
    CacheDataOpts o = {.n_seqs = (int)a->n_seqs, .seed = a->seed};
    char spec[4200] = "random";
    unsigned char vocab[256];
    int rc = cache_ckpt_data(&f, r->ckpt, &o, spec, sizeof spec, vocab);
    if (rc == 0) {
        if (a->seq_len) o.seq_len = (int)a->seq_len;
        if (a->bos >= 0) o.use_bos = a->bos;
        rc = cache_data_make(&r->d, a->data ? a->data : spec, &r->m->cfg, &o);
    }
    st_close(&f);
    if (rc == 0) rc = cache_parse_pos(a->pos ? a->pos : "all", &r->d, &r->pos, &r->n_pos);
    if (rc) {
        ana_close(r);
        return -1;
    }
    return 0;
}

const char *ana_shape_str(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(out + k, n - k, "]");
    return out;
}

const char *ana_pos_str(char *out, size_t n, const int *pos, int n_pos) {
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < n_pos && k < n;) {
        int j = i;
        while (j + 1 < n_pos && pos[j + 1] == pos[j] + 1) j++;
        if (j == i) k += (size_t)snprintf(out + k, n - k, "%s%d", i ? "," : "", pos[i]);
        else k += (size_t)snprintf(out + k, n - k, "%s%d:%d", i ? "," : "", pos[i], pos[j] + 1);
        i = j + 1;
    }
    return out;
}

int ana_path(char *out, size_t n, const char *dir, const char *name) {
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
        return err_set("%s/%s: path too long", dir, name);
    return 0;
}

int ana_write(const char *dir, const char *name, const Buf *b) {
    char path[4200];
    if (ana_path(path, sizeof path, dir, name)) return -1;
    if (b->oom) return err_set("%s: out of memory", path);
    return fileio_write_all(path, b->p ? b->p : "", b->len);
}
