#include "summary.h"

#include <stdio.h>
#include <string.h>

#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"

void summary_init(Summary *s, const char *experiment, const char *reproduces) {
    memset(s, 0, sizeof *s);
    snprintf(s->experiment, sizeof s->experiment, "%s", experiment);
    snprintf(s->reproduces, sizeof s->reproduces, "%s", reproduces);
}

static void key(Buf *b, const char *k) {
    if (b->len) buf_puts(b, ",\n    ");
    buf_put_json_str(b, k);
    buf_puts(b, ": ");
}

void summary_num(Summary *s, const char *k, double v) {
    key(&s->results, k);
    json_put_double(&s->results, v);
}

void summary_int(Summary *s, const char *k, long v) {
    key(&s->results, k);
    buf_printf(&s->results, "%ld", v);
}

void summary_str(Summary *s, const char *k, const char *v) {
    key(&s->results, k);
    buf_put_json_str(&s->results, v);
}

void summary_json(Summary *s, const char *k, const char *json) {
    key(&s->results, k);
    buf_puts(&s->results, json);
}

void summary_check(Summary *s, const char *name, double measured, const char *published, int pass) {
    Buf *b = &s->checks;
    if (b->len) buf_puts(b, ",\n    ");
    buf_puts(b, "{\"name\": ");
    buf_put_json_str(b, name);
    buf_puts(b, ", \"measured\": ");
    json_put_double(b, measured);
    buf_puts(b, ", \"published\": ");
    buf_put_json_str(b, published);
    buf_printf(b, ", \"pass\": %s}", pass ? "true" : "false");
    if (!pass) s->n_fail++;
    printf("%s %s: %.4g (published: %s)\n", pass ? "[ok]  " : "[MISS]", name, measured, published);
}

int summary_save(Summary *s, const char *path) {
    Buf b = {0};
    buf_puts(&b, "{\n  \"experiment\": ");
    buf_put_json_str(&b, s->experiment);
    buf_puts(&b, ",\n  \"reproduces\": ");
    buf_put_json_str(&b, s->reproduces);
    buf_puts(&b, ",\n  \"results\": {\n    ");
    if (s->results.len) buf_append(&b, s->results.p, s->results.len);
    buf_puts(&b, "\n  },\n  \"checks\": [\n    ");
    if (s->checks.len) buf_append(&b, s->checks.p, s->checks.len);
    buf_printf(&b, "\n  ],\n  \"checks_missed\": %d\n}\n", s->n_fail);
    int rc = b.oom || s->results.oom || s->checks.oom ? err_set("%s: out of memory", path)
                                                       : fileio_write_all(path, b.p, b.len);
    buf_free(&b);
    return rc;
}

void summary_free(Summary *s) {
    buf_free(&s->results);
    buf_free(&s->checks);
}
