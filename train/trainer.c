#include "trainer.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/timer.h"

static volatile sig_atomic_t stop_requested;

void train_request_stop(void) { stop_requested = 1; }

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static const char *optim_kind_name(OptimKind k) {
    return k == OPTIM_SGD ? "sgd" : k == OPTIM_ADAM ? "adam" : "adamw";
}

static void join(char *out, size_t n, const char *dir, const char *file) {
    snprintf(out, n, "%s/%s", dir, file);
}

// ---- the shared training settings as JSON ---------------------------------------------------

static const char *sched_kind_name(SchedKind k) {
    return k == SCHED_CONSTANT ? "constant" : k == SCHED_WARMUP_CONSTANT ? "warmup" : "cosine";
}

void train_config_to_json(const TrainConfig *c, Buf *b) {
    buf_printf(b, ", \"steps\": %ld, \"eval_every\": %ld, \"ckpt_every\": %ld, \"clip\": ", c->steps,
               c->eval_every, c->ckpt_every);
    json_put_double(b, c->clip);
    buf_printf(b, ", \"optim\": \"%s\", \"weight_decay\": ", optim_kind_name(c->optim.kind));
    json_put_double(b, c->optim.weight_decay);
    buf_puts(b, ", \"momentum\": ");
    json_put_double(b, c->optim.momentum);
    buf_printf(b, ", \"nesterov\": %d, \"beta1\": ", c->optim.nesterov);
    json_put_double(b, c->optim.beta1);
    buf_puts(b, ", \"beta2\": ");
    json_put_double(b, c->optim.beta2);
    buf_puts(b, ", \"adam_eps\": ");
    json_put_double(b, c->optim.eps);
    buf_printf(b, ", \"schedule\": \"%s\", \"lr\": ", sched_kind_name(c->sched.kind));
    json_put_float(b, c->sched.lr);
    buf_printf(b, ", \"warmup\": %ld, \"total\": %ld, \"min_lr\": ", c->sched.warmup, c->sched.total);
    json_put_float(b, c->sched.min_lr);
}

int train_config_from_json(const JsonValue *o, TrainConfig *c) {
    int64_t i;
    double d;
    const char *str;
#define GETI(key, field, lo, hi)                     \
    if (json_get_int(o, key, lo, hi, &i)) return -1; \
    field = i;
#define GETD(key, field)                        \
    if (json_get_double(o, key, &d)) return -1; \
    field = d;
    GETI("steps", c->steps, 0, INT64_MAX);
    GETI("eval_every", c->eval_every, 0, INT64_MAX);
    GETI("ckpt_every", c->ckpt_every, 0, INT64_MAX);
    GETI("nesterov", c->optim.nesterov, 0, 1);
    GETI("warmup", c->sched.warmup, 0, INT64_MAX);
    GETI("total", c->sched.total, 0, INT64_MAX);
    GETD("clip", c->clip);
    GETD("weight_decay", c->optim.weight_decay);
    GETD("momentum", c->optim.momentum);
    GETD("beta1", c->optim.beta1);
    GETD("beta2", c->optim.beta2);
    GETD("adam_eps", c->optim.eps);
    GETD("lr", c->sched.lr);
    GETD("min_lr", c->sched.min_lr);
#undef GETI
#undef GETD
    if (json_get_string(o, "optim", &str)) return -1;
    if (!strcmp(str, "sgd")) c->optim.kind = OPTIM_SGD;
    else if (!strcmp(str, "adam")) c->optim.kind = OPTIM_ADAM;
    else if (!strcmp(str, "adamw")) c->optim.kind = OPTIM_ADAMW;
    else return err_set("unknown optimiser '%s'", str);
    if (json_get_string(o, "schedule", &str)) return -1;
    if (!strcmp(str, "constant")) c->sched.kind = SCHED_CONSTANT;
    else if (!strcmp(str, "warmup")) c->sched.kind = SCHED_WARMUP_CONSTANT;
    else if (!strcmp(str, "cosine")) c->sched.kind = SCHED_WARMUP_COSINE;
    else return err_set("unknown schedule '%s'", str);
    return 0;
}

// ---- checkpoints ---------------------------------------------------------------------------

int train_save(const char *dir, TrainModel *m, const Optim *optim, const TrainState *st) {
    char path[4096];
    Meta meta = {0};
    // Doubles as C99 hex floats ("%a") so the running loss sum is restored exactly.
    if (meta_set(&meta, "step", "%ld", st->step) || meta_set(&meta, "optim", "%s",
                                                             optim_kind_name(optim->cfg.kind)) ||
        meta_set(&meta, "optim_step", "%ld", optim->step) ||
        meta_set(&meta, "loss_sum", "%a", st->loss_sum) ||
        meta_set(&meta, "loss_count", "%ld", st->loss_count) ||
        meta_set(&meta, "last_loss", "%a", st->last_loss))
        return -1;
    const float *blocks[2] = {optim->m, optim->v};
    const char *suffixes[2] = {".m", ".v"};
    int nblocks = optim->v ? 2 : optim->m ? 1 : 0;
    join(path, sizeof path, dir, "optim.safetensors");
    // Plain SGD has no moments (nblocks = 0): the file still records the trainer state.
    if (ckpt_save_blocks(path, m->params, blocks, suffixes, nblocks, &meta)) return -1;
    Meta mm = {0};
    if (meta_set(&mm, "step", "%ld", st->step) || (m->meta && m->meta(m->ctx, &mm))) return -1;
    join(path, sizeof path, dir, "model.safetensors");
    return ckpt_save_params(path, m->params, &mm);
}

static int meta_hex(const StFile *f, const char *path, const char *key, double *out) {
    const char *v = ckpt_meta_str(f, path, key);
    if (!v) return -1;
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end) return err_set("%s: __metadata__ '%s' is not a number", path, key);
    return 0;
}

int train_load_optim(const char *dir, const ParamSet *params, Optim *optim, TrainState *st) {
    char path[4096];
    join(path, sizeof path, dir, "optim.safetensors");
    StFile f = {0};
    if (st_open(&f, path)) return -1;
    int rc = -1;
    const char *kind = ckpt_meta_str(&f, path, "optim");
    long step, ostep, count;
    if (!kind) goto done;
    if (strcmp(kind, optim_kind_name(optim->cfg.kind))) {
        err_set("%s: saved with optimiser '%s', resuming with '%s'", path, kind,
                optim_kind_name(optim->cfg.kind));
        goto done;
    }
    if (ckpt_meta_long(&f, path, "step", 0, 1L << 50, &step) ||
        ckpt_meta_long(&f, path, "optim_step", 0, 1L << 50, &ostep) ||
        ckpt_meta_long(&f, path, "loss_count", 0, 1L << 50, &count) ||
        meta_hex(&f, path, "loss_sum", &st->loss_sum) ||
        meta_hex(&f, path, "last_loss", &st->last_loss))
        goto done;
    float *blocks[2] = {optim->m, optim->v};
    const char *suffixes[2] = {".m", ".v"};
    int nblocks = optim->v ? 2 : optim->m ? 1 : 0;
    if (ckpt_load_blocks(&f, path, params, blocks, suffixes, nblocks)) goto done;
    st->step = step;
    st->loss_count = count;
    optim->step = ostep;
    rc = 0;
done:
    st_close(&f);
    return rc;
}

// ---- metrics.csv ---------------------------------------------------------------------------

// Keeps the header and the rows of an existing metrics.csv whose step is <= upto (a resumed run
// rewrites what came after its checkpoint).
static void csv_restore(Buf *csv, const char *path, long upto) {
    char *data;
    size_t len;
    if (fileio_read_all(path, (size_t)1 << 30, &data, &len)) {
        err_clear();
        return;
    }
    char *line = data;
    int first = 1;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (first || strtol(line, NULL, 10) <= upto) buf_append(csv, line, n);
        first = 0;
        line += n;
    }
    free(data);
}

// ---- the loop ------------------------------------------------------------------------------

static void fmt_eta(char *out, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(out, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static int do_eval(const TrainConfig *cfg, TrainModel *m, TrainState *st, Buf *csv,
                   const char *csv_path, double lr, double gnorm, double rate) {
    double train_loss = st->loss_count ? st->loss_sum / (double)st->loss_count : st->last_loss;
    if (m->eval && m->eval(m->ctx, st->step, st->last_eval)) return -1;
    if (csv->len == 0) {
        buf_puts(csv, "step,lr,train_loss,grad_norm");
        for (int i = 0; i < m->n_eval; i++) buf_printf(csv, ",%s", m->eval_names[i]);
        buf_puts(csv, "\n");
    }
    buf_printf(csv, "%ld,%.9g,%.9g,%.9g", st->step, lr, train_loss, gnorm);
    for (int i = 0; i < m->n_eval; i++) buf_printf(csv, ",%.9g", st->last_eval[i]);
    buf_puts(csv, "\n");
    if (csv->oom) return err_set("%s: out of memory", csv_path);
    if (fileio_write_all(csv_path, csv->p, csv->len)) return -1;
    st->loss_sum = 0;
    st->loss_count = 0;
    if (!cfg->quiet) {
        if (cfg->progress) fputs("\r\033[K", stderr);
        fprintf(stderr, "step %ld/%ld  train_loss %.4f", st->step, cfg->steps, train_loss);
        for (int i = 0; i < m->n_eval && i < 6; i++)
            fprintf(stderr, "  %s %.4f", m->eval_names[i], st->last_eval[i]);
        if (rate > 0) fprintf(stderr, "  %.1f steps/s", rate);
        fputc('\n', stderr);
    }
    return 0;
}

int train_run(const TrainConfig *cfg, TrainModel *m, Optim *optim, TrainState *st) {
    if (sched_check(&cfg->sched)) return -1;
    if (fileio_mkdirs(cfg->out_dir)) return -1;
    char csv_path[4096];
    join(csv_path, sizeof csv_path, cfg->out_dir, "metrics.csv");
    Buf csv = {0};
    if (st->step > 0) csv_restore(&csv, csv_path, st->step);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    ParamSet *ps = m->params;
    long good_step = -1;  // step of the last checkpoint written by this run
    double t0 = timer_now(), last_print = 0, gnorm = 0, lr = 0;
    long start = st->step;
    int rc = 0;
    while (st->step < cfg->steps) {
        if (stop_requested) {
            rc = 1;
            break;
        }
        lr = sched_lr(&cfg->sched, st->step);
        params_zero_grad(ps);
        double loss;
        if (m->train_step(m->ctx, &loss)) {
            rc = -1;
            break;
        }
        gnorm = optim_clip_grad_norm(ps->grad, ps->numel, cfg->clip);
        if (!isfinite(loss) || !isfinite(gnorm)) {
            char where[4200];
            if (good_step >= 0 || start > 0)
                snprintf(where, sizeof where, "the last good checkpoint (step %ld) is in %s",
                         good_step >= 0 ? good_step : start, cfg->out_dir);
            else
                snprintf(where, sizeof where, "no checkpoint was written");
            err_set("step %ld: %s is %s; training stopped (try a lower --lr or --clip); %s",
                    st->step + 1, isfinite(loss) ? "gradient norm" : "loss",
                    isnan(isfinite(loss) ? gnorm : loss) ? "NaN" : "infinite", where);
            rc = -1;
            break;
        }
        if (optim_step(optim, ps->data, ps->grad, lr)) {
            rc = -1;
            break;
        }
        st->step++;
        st->loss_sum += loss;
        st->loss_count++;
        st->last_loss = loss;

        double now = timer_now();
        double rate = (double)(st->step - start) / (now - t0 + 1e-9);
        int eval_now = st->step == cfg->steps || (cfg->eval_every > 0 && st->step % cfg->eval_every == 0);
        if (eval_now && do_eval(cfg, m, st, &csv, csv_path, lr, gnorm, rate)) {
            rc = -1;
            break;
        }
        if (cfg->ckpt_every > 0 && st->step % cfg->ckpt_every == 0 && st->step != cfg->steps) {
            if (train_save(cfg->out_dir, m, optim, st)) {
                rc = -1;
                break;
            }
            good_step = st->step;
        }
        if (!cfg->quiet && cfg->progress && now - last_print > 0.2) {
            char eta[32];
            fmt_eta(eta, sizeof eta, (double)(cfg->steps - st->step) / rate);
            fprintf(stderr, "\r\033[Kstep %ld/%ld  loss %.4f  %.1f steps/s  ETA %s", st->step,
                    cfg->steps, loss, rate, eta);
            last_print = now;
        }
    }
    if (!cfg->quiet && cfg->progress) fputs("\r\033[K", stderr);
    if (rc >= 0) {
        // Completed or interrupted: the final state is good, save it.
        if (train_save(cfg->out_dir, m, optim, st)) rc = -1;
        else if (rc == 1 && !cfg->quiet)
            fprintf(stderr, "interrupted at step %ld; checkpoint saved in %s (resume with --resume)\n",
                    st->step, cfg->out_dir);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    buf_free(&csv);
    return rc;
}
