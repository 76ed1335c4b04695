// safetensors.c — validating reader and atomic writer.
#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/buf.h"
#include "model/bytes.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/json.h"

static const char *const dtype_names[] = {"F32", "F64", "F16", "BF16", "I64",
                                          "I32", "I16", "I8",  "U8",   "BOOL"};
static const size_t dtype_sizes[] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};
#define N_DTYPES ((int)(sizeof dtype_sizes / sizeof dtype_sizes[0]))

const char *st_dtype_name(StDtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_names[d] : "?";
}

size_t st_dtype_size(StDtype d) { return (int)d >= 0 && (int)d < N_DTYPES ? dtype_sizes[d] : 0; }

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

// "[4,64,16]" into out.
static const char *fmt_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(out + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(out + o, n - o, "]");
    return out;
}

void st_close(StFile *f) {
    for (int i = 0; f->tensors && i < f->n; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        if (f->meta_keys) free(f->meta_keys[i]);
        if (f->meta_vals) free(f->meta_vals[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->buf);
    free(f->path);
    memset(f, 0, sizeof *f);
}

// ---- reading ---------------------------------------------------------------------------------

static int parse_metadata(StFile *f, const JsonValue *m) {
    if (m->type == JSON_NULL) return 0;
    if (m->type != JSON_OBJECT)
        return err_set("__metadata__ is %s, expected an object of strings",
                       json_type_name(m->type));
    size_t n = json_len(m);
    if (n > (size_t)INT32_MAX) return err_set("__metadata__ has too many entries");
    f->meta_keys = calloc(n ? n : 1, sizeof(char *));
    f->meta_vals = calloc(n ? n : 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_vals) return err_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        const JsonValue *v = json_at(m, i);
        if (v->type != JSON_STRING) {
            char k[80];
            return err_set("__metadata__ value for '%s' is %s, expected a string",
                           json_msg_str(k, sizeof k, v->key), json_type_name(v->type));
        }
        f->meta_keys[i] = dupstr(v->key);
        f->meta_vals[i] = dupstr(v->u.str.s);
        f->nmeta = (int)i + 1;
        if (!f->meta_keys[i] || !f->meta_vals[i]) return err_set("out of memory");
    }
    return 0;
}

// One tensor entry: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}.
static int parse_entry(StTensor *t, const JsonValue *e, uint64_t buf_size) {
    char k[80];
    const char *nm = json_msg_str(k, sizeof k, e->key);
    if (e->type != JSON_OBJECT)
        return err_set("tensor '%s': entry is %s, expected an object", nm,
                       json_type_name(e->type));
    const JsonValue *dt = NULL, *sh = NULL, *off = NULL;
    for (size_t i = 0; i < json_len(e); i++) {
        const JsonValue *m = json_at(e, i);
        if (!strcmp(m->key, "dtype")) dt = m;
        else if (!strcmp(m->key, "shape")) sh = m;
        else if (!strcmp(m->key, "data_offsets")) off = m;
        else {
            char u[80];
            return err_set("tensor '%s': unknown field '%s'", nm,
                           json_msg_str(u, sizeof u, m->key));
        }
    }
    if (!dt || !sh || !off)
        return err_set("tensor '%s': missing '%s'", nm,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    // dtype
    if (dt->type != JSON_STRING)
        return err_set("tensor '%s': dtype is %s, expected a string", nm,
                       json_type_name(dt->type));
    int d = 0;
    while (d < N_DTYPES && strcmp(dt->u.str.s, dtype_names[d])) d++;
    if (d == N_DTYPES) {
        char u[40];
        return err_set("tensor '%s': unknown or unsupported dtype '%s'", nm,
                       json_msg_str(u, sizeof u, dt->u.str.s));
    }
    t->dtype = (StDtype)d;
    // shape: numel * size must not overflow; dims checked one by one against what is left.
    if (sh->type != JSON_ARRAY)
        return err_set("tensor '%s': shape is %s, expected an array", nm,
                       json_type_name(sh->type));
    if (json_len(sh) > ST_MAX_DIMS)
        return err_set("tensor '%s': shape has %zu dims, at most %d supported", nm, json_len(sh),
                       ST_MAX_DIMS);
    t->ndim = (int)json_len(sh);
    int zero = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t v;
        if (json_int(json_at(sh, (size_t)i), 0, INT64_MAX, &v)) {
            char tmp[96];
            snprintf(tmp, sizeof tmp, "tensor '%s': shape[%d]", nm, i);
            return err_prefix(tmp);
        }
        t->shape[i] = v;
        zero |= v == 0;
    }
    uint64_t nbytes = zero ? 0 : dtype_sizes[d];
    int overflow = 0;
    for (int i = 0; i < t->ndim && nbytes; i++) {
        uint64_t v = (uint64_t)t->shape[i];
        if (nbytes > UINT64_MAX / v) {
            overflow = 1;
            break;
        }
        nbytes *= v;
    }
    // data_offsets
    if (off->type != JSON_ARRAY || json_len(off) != 2)
        return err_set("tensor '%s': data_offsets must be an array of two integers", nm);
    int64_t b, en;
    if (json_int(json_at(off, 0), 0, INT64_MAX, &b) ||
        json_int(json_at(off, 1), 0, INT64_MAX, &en)) {
        char tmp[96];
        snprintf(tmp, sizeof tmp, "tensor '%s': data_offsets", nm);
        return err_prefix(tmp);
    }
    if (b > en)
        return err_set("tensor '%s': data_offsets [%lld, %lld) begin after end", nm,
                       (long long)b, (long long)en);
    if ((uint64_t)en > buf_size)
        return err_set("tensor '%s': data_offsets [%lld, %lld) run past the data buffer "
                       "(%llu bytes)", nm, (long long)b, (long long)en,
                       (unsigned long long)buf_size);
    char s[200];
    fmt_shape(s, sizeof s, t->ndim, t->shape);
    if (overflow)
        return err_set("tensor '%s': shape %s of %s is too large", nm, s, dtype_names[d]);
    if (nbytes != (uint64_t)(en - b))
        return err_set("tensor '%s': shape %s of %s needs %llu bytes, but data_offsets "
                       "[%lld, %lld) hold %lld", nm, s, dtype_names[d],
                       (unsigned long long)nbytes, (long long)b, (long long)en,
                       (long long)(en - b));
    t->begin = (size_t)b;
    t->end = (size_t)en;
    t->name = dupstr(e->key);
    if (!t->name) return err_set("out of memory");
    return 0;
}

static int by_range(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

// The tensors must tile [0, buf_size) exactly: sorted by range, each begins where the last ended.
static int check_layout(const StFile *f, size_t buf_size) {
    const StTensor **sorted = malloc((size_t)(f->n ? f->n : 1) * sizeof *sorted);
    if (!sorted) return err_set("out of memory");
    for (int i = 0; i < f->n; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, (size_t)f->n, sizeof *sorted, by_range);
    size_t at = 0;
    const StTensor *prev = NULL;
    int rc = 0;
    char a[80], b[80];
    for (int i = 0; i < f->n && !rc; i++) {
        const StTensor *t = sorted[i];
        if (t->begin < at)  // then prev != NULL: at > 0 only after a tensor
            rc = err_set("tensor '%s' data range [%zu, %zu) overlaps '%s' [%zu, %zu)",
                         json_msg_str(a, sizeof a, t->name), t->begin, t->end,
                         json_msg_str(b, sizeof b, prev->name), prev->begin, prev->end);
        else if (t->begin > at)
            rc = err_set("hole in the data buffer: bytes [%zu, %zu) belong to no tensor (next is "
                         "'%s')", at, t->begin, json_msg_str(a, sizeof a, t->name));
        at = t->end;
        prev = t;
    }
    if (!rc && at != buf_size)
        rc = err_set("hole in the data buffer: bytes [%zu, %zu) at the end belong to no tensor",
                     at, buf_size);
    free(sorted);
    return rc;
}

// Validates buf (taken over: freed by st_close) into f.
static int parse_owned(StFile *f, char *buf, size_t len) {
    f->buf = buf;
    f->len = len;
    if (len < 8)
        return err_set("file is %zu bytes, too short for a safetensors header (needs 8)", len);
    const unsigned char *u = (const unsigned char *)buf;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | u[i];
    if (hlen > ST_MAX_HEADER)
        return err_set("header length %llu exceeds the %u-byte limit", (unsigned long long)hlen,
                       ST_MAX_HEADER);
    if (hlen > len - 8)
        return err_set("header length %llu runs past the end of the file (%zu bytes)",
                       (unsigned long long)hlen, len);
    size_t data_start = 8 + (size_t)hlen;
    size_t buf_size = len - data_start;
    JsonDoc doc = {0};
    if (json_parse(&doc, buf + 8, (size_t)hlen)) return err_prefix("header");
    int rc = 0;
    const JsonValue *root = doc.root;
    if (root->type != JSON_OBJECT) {
        rc = err_set("header is a JSON %s, expected an object", json_type_name(root->type));
        goto done;
    }
    size_t nt = 0;
    for (size_t i = 0; i < json_len(root); i++)
        if (strcmp(json_at(root, i)->key, "__metadata__")) nt++;
    if (nt > (size_t)INT32_MAX) {
        rc = err_set("too many tensors");
        goto done;
    }
    f->tensors = calloc(nt ? nt : 1, sizeof(StTensor));
    if (!f->tensors) {
        rc = err_set("out of memory");
        goto done;
    }
    for (size_t i = 0; i < json_len(root) && !rc; i++) {
        const JsonValue *e = json_at(root, i);
        if (!strcmp(e->key, "__metadata__")) {
            rc = parse_metadata(f, e);
        } else {
            StTensor *t = &f->tensors[f->n];
            rc = parse_entry(t, e, buf_size);
            if (t->name) f->n++;
        }
    }
    if (!rc) rc = check_layout(f, buf_size);
    if (!rc)
        for (int i = 0; i < f->n; i++) f->tensors[i].data = buf + data_start + f->tensors[i].begin;
done:
    json_free(&doc);
    return rc;
}

static int finish(StFile *f, int rc, const char *name) {
    if (rc == 0) return 0;
    err_prefix(name);
    st_close(f);
    return -1;
}

int st_parse(StFile *f, const void *data, size_t len, const char *name_for_errors) {
    memset(f, 0, sizeof *f);
    const char *name = name_for_errors ? name_for_errors : "safetensors";
    char *copy = malloc(len ? len : 1);
    f->path = dupstr(name);
    if (!copy || !f->path) {
        free(copy);
        free(f->path);
        f->path = NULL;
        return err_set("%s: out of memory", name);
    }
    if (len) memcpy(copy, data, len);
    return finish(f, parse_owned(f, copy, len), name);
}

int st_open(StFile *f, const char *path) {
    memset(f, 0, sizeof *f);
    char *buf;
    size_t len;
    if (fileio_read_all(path, SIZE_MAX - 1, &buf, &len)) return -1;
    f->path = dupstr(path);
    if (!f->path) {
        free(buf);
        return err_set("%s: out of memory", path);
    }
    return finish(f, parse_owned(f, buf, len), path);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

int st_copy_f32(const StFile *f, const char *name, float *dst, int ndim, const int *shape) {
    const char *path = f->path ? f->path : "safetensors";
    char k[80];
    const StTensor *t = st_find(f, name);
    if (!t) return err_set("%s: tensor '%s' not found", path, json_msg_str(k, sizeof k, name));
    if (t->dtype != ST_F32)
        return err_set("%s: tensor '%s' has dtype %s, expected F32", path,
                       json_msg_str(k, sizeof k, name), st_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == (int64_t)shape[i];
    if (!same) {
        char have[200], want[200];
        int64_t w[ST_MAX_DIMS];
        int wn = ndim < 0 ? 0 : ndim > ST_MAX_DIMS ? ST_MAX_DIMS : ndim;
        for (int i = 0; i < wn; i++) w[i] = shape[i];
        return err_set("%s: tensor '%s' has shape %s, expected %s", path,
                       json_msg_str(k, sizeof k, name), fmt_shape(have, sizeof have, t->ndim, t->shape),
                       fmt_shape(want, sizeof want, wn, w));
    }
    size_t n = (t->end - t->begin) / 4;
    if (n) memcpy(dst, t->data, n * 4);
    if (!host_is_le()) swap_bytes(dst, n, 4);
    return 0;
}

// ---- writing ---------------------------------------------------------------------------------

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Checks the caller's table before anything is written; sets err without the path.
static int check_write_args(const StWriteTensor *t, int n, const char *const *mk,
                            const char *const *mv, int nmeta, uint64_t *total) {
    char k[80];
    if (n < 0 || nmeta < 0) return err_set("negative tensor or metadata count");
    *total = 0;
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0]) return err_set("tensor %d has no name", i);
        const char *nm = json_msg_str(k, sizeof k, t[i].name);
        if (!strcmp(t[i].name, "__metadata__"))
            return err_set("'__metadata__' is reserved, not a tensor name");
        if (!json_utf8_valid(t[i].name, strlen(t[i].name)))
            return err_set("tensor name '%s' is not valid UTF-8", nm);
        if (st_dtype_size(t[i].dtype) == 0) return err_set("tensor '%s': invalid dtype", nm);
        if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS)
            return err_set("tensor '%s': ndim %d outside [0, %d]", nm, t[i].ndim, ST_MAX_DIMS);
        if (t[i].ndim > 0 && !t[i].shape) return err_set("tensor '%s': no shape", nm);
        uint64_t bytes = st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0)
                return err_set("tensor '%s': negative dimension %lld", nm,
                               (long long)t[i].shape[d]);
            if (t[i].shape[d] == 0) bytes = 0;
        }
        for (int d = 0; d < t[i].ndim && bytes; d++) {
            uint64_t v = (uint64_t)t[i].shape[d];
            if (bytes > UINT64_MAX / v) return err_set("tensor '%s': too large", nm);
            bytes *= v;
        }
        if (bytes > SIZE_MAX) return err_set("tensor '%s': too large for this machine", nm);
        if (bytes && !t[i].data) return err_set("tensor '%s': no data", nm);
        if (*total > UINT64_MAX - bytes) return err_set("tensors too large in total");
        *total += bytes;
    }
    for (int i = 0; i < nmeta; i++) {
        if (!mk[i] || !mv[i]) return err_set("metadata entry %d is NULL", i);
        if (!json_utf8_valid(mk[i], strlen(mk[i])) || !json_utf8_valid(mv[i], strlen(mv[i])))
            return err_set("metadata entry '%s' is not valid UTF-8", json_msg_str(k, sizeof k, mk[i]));
        for (int j = 0; j < i; j++)
            if (!strcmp(mk[i], mk[j]))
                return err_set("duplicate metadata key '%s'", json_msg_str(k, sizeof k, mk[i]));
    }
    // Duplicate names: sort a copy of the name pointers (n can be thousands).
    if (n > 1) {
        const char **names = malloc((size_t)n * sizeof *names);
        if (!names) return err_set("out of memory");
        for (int i = 0; i < n; i++) names[i] = t[i].name;
        qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
        for (int i = 1; i < n; i++)
            if (!strcmp(names[i], names[i - 1])) {
                err_set("duplicate tensor name '%s'", json_msg_str(k, sizeof k, names[i]));
                free(names);
                return -1;
            }
        free(names);
    }
    return 0;
}

static int write_le(FILE *out, const void *data, size_t count, size_t size) {
    if (host_is_le() || size == 1) return fwrite(data, size, count, out) == count ? 0 : -1;
    unsigned char tmp[1 << 14];
    size_t per = sizeof tmp / size;
    const unsigned char *p = data;
    while (count) {
        size_t m = count < per ? count : per;
        memcpy(tmp, p, m * size);
        swap_bytes(tmp, m, size);
        if (fwrite(tmp, size, m, out) != m) return -1;
        p += m * size;
        count -= m;
    }
    return 0;
}

int st_save(const char *path, const StWriteTensor *t, int n, const char *const *meta_keys,
            const char *const *meta_vals, int nmeta) {
    uint64_t total;
    if (check_write_args(t, n, meta_keys, meta_vals, nmeta, &total)) return err_prefix(path);
    Buf h = {0};
    buf_puts(&h, "{");
    if (nmeta > 0) {
        buf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) buf_puts(&h, ",");
            buf_put_json_str(&h, meta_keys[i]);
            buf_puts(&h, ":");
            buf_put_json_str(&h, meta_vals[i]);
        }
        buf_puts(&h, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes = st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) bytes *= (uint64_t)t[i].shape[d];
        if (nmeta > 0 || i) buf_puts(&h, ",");
        buf_put_json_str(&h, t[i].name);
        buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++)
            buf_printf(&h, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
        buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                   (unsigned long long)(at + bytes));
        at += bytes;
    }
    buf_puts(&h, "}");
    // Pad with spaces so 8 + header length is a multiple of 8: the data is then 8-byte aligned.
    while (h.len % 8) buf_puts(&h, " ");
    if (h.oom) {
        buf_free(&h);
        return err_set("%s: out of memory building the header", path);
    }
    if (h.len > ST_MAX_HEADER) {
        buf_free(&h);
        return err_set("%s: header of %zu bytes exceeds the %u-byte limit", path, h.len,
                       ST_MAX_HEADER);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    AtomicFile af;
    if (fileio_begin(&af, path)) {
        buf_free(&h);
        return -1;
    }
    errno = 0;
    int bad = fwrite(len8, 1, 8, af.f) != 8 || fwrite(h.p, 1, h.len, af.f) != h.len;
    buf_free(&h);
    for (int i = 0; i < n && !bad; i++) {
        size_t size = st_dtype_size(t[i].dtype);
        uint64_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= (uint64_t)t[i].shape[d];
        if (count) bad = write_le(af.f, t[i].data, (size_t)count, size) != 0;
    }
    if (bad) {
        int e = errno ? errno : EIO;
        fileio_abort(&af);
        return err_set("%s: write failed: %s", path, strerror(e));
    }
    return fileio_commit(&af);
}
