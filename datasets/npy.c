// npy.c — .npy reader (v1/v2/v3, both byte orders, both memory orders) and numpy-exact writer.
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/buf.h"
#include "model/bytes.h"
#include "model/err.h"

static const size_t dtype_sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8};
static const char *const dtype_codes[] = {"b1", "i1", "u1", "i2", "u2", "i4",
                                          "u4", "i8", "u8", "f2", "f4", "f8"};
#define N_DTYPES ((int)(sizeof dtype_sizes / sizeof dtype_sizes[0]))

// numpy keeps this many characters for the first axis in the header, so a file can grow in
// place (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS); we use the room the same way.
#define GROWTH_AXIS_MAX_DIGITS 21
#define NPY_ALIGN 64

size_t npy_dtype_size(NpyDtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_sizes[d] : 0;
}

const char *npy_dtype_name(NpyDtype d) {
    return (int)d >= 0 && (int)d < N_DTYPES ? dtype_codes[d] : "?";
}

void npy_free(NpyArray *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

// ---- header dict: a Python literal -----------------------------------------------------------

typedef struct {
    const char *s;
    size_t len, pos;
    int allow_long;  // v1/v2 files written by Python 2 may say (3L, 4L)
} Lex;

static void lex_ws(Lex *x) {
    while (x->pos < x->len) {
        char c = x->s[x->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f') break;
        x->pos++;
    }
}

static int lex_peek(Lex *x) {
    lex_ws(x);
    return x->pos < x->len ? (unsigned char)x->s[x->pos] : -1;
}

static int lex_expect(Lex *x, char c, const char *where) {
    if (lex_peek(x) != c)
        return err_set("bad header dict: expected '%c' %s at header byte %zu", c, where, x->pos);
    x->pos++;
    return 0;
}

// A quoted string without escapes (no key or descr we accept needs one); copied into out.
static int lex_string(Lex *x, char *out, size_t n) {
    int q = lex_peek(x);
    if (q != '\'' && q != '"')
        return err_set("bad header dict: expected a quoted string at header byte %zu", x->pos);
    size_t st = ++x->pos;
    while (x->pos < x->len && x->s[x->pos] != q) {
        char c = x->s[x->pos];
        if (c == '\\' || c == '\n')
            return err_set("bad header dict: unsupported character in string at header byte %zu",
                           x->pos);
        x->pos++;
    }
    if (x->pos >= x->len)
        return err_set("bad header dict: unterminated string at header byte %zu", st - 1);
    size_t k = x->pos - st;
    x->pos++;
    if (k >= n) k = n - 1;  // long strings are cut; they match nothing we accept anyway
    memcpy(out, x->s + st, k);
    out[k] = '\0';
    return 0;
}

static int lex_word(Lex *x, const char *w) {
    lex_ws(x);
    size_t n = strlen(w);
    if (x->len - x->pos < n || memcmp(x->s + x->pos, w, n)) return 0;
    // the word must end there (True, not Truex)
    if (x->pos + n < x->len) {
        char c = x->s[x->pos + n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_')
            return 0;
    }
    x->pos += n;
    return 1;
}

// A non-negative decimal integer (shape entry).
static int lex_int(Lex *x, int64_t *out) {
    lex_ws(x);
    size_t st = x->pos;
    if (x->pos < x->len && x->s[x->pos] == '-')
        return err_set("bad header dict: negative dimension at header byte %zu", st);
    if (x->pos >= x->len || x->s[x->pos] < '0' || x->s[x->pos] > '9')
        return err_set("bad header dict: expected an integer in shape at header byte %zu", st);
    uint64_t v = 0;
    while (x->pos < x->len && x->s[x->pos] >= '0' && x->s[x->pos] <= '9') {
        unsigned d = (unsigned)(x->s[x->pos] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return err_set("shape dimension at header byte %zu is too large", st);
        v = v * 10 + d;
        x->pos++;
    }
    if (x->pos - st > 1 && x->s[st] == '0')
        return err_set("bad header dict: leading zero in shape at header byte %zu", st);
    if (x->allow_long && x->pos < x->len && (x->s[x->pos] == 'L' || x->s[x->pos] == 'l'))
        x->pos++;
    *out = (int64_t)v;
    return 0;
}

// Python tuple syntax: (), (5,), (3, 4), (3, 4,). "(5)" is an int in Python, not a tuple.
static int lex_shape(Lex *x, int *ndim, int64_t *shape) {
    if (lex_expect(x, '(', "to open the shape tuple")) return -1;
    int n = 0, trailing_comma = 0;
    while (lex_peek(x) != ')') {
        if (n == NPY_MAX_DIMS) return err_set("shape has more than %d dims", NPY_MAX_DIMS);
        if (lex_int(x, &shape[n])) return -1;
        n++;
        trailing_comma = 0;
        int c = lex_peek(x);
        if (c == ',') {
            x->pos++;
            trailing_comma = 1;
        } else if (c != ')') {
            return err_set("bad header dict: expected ',' or ')' in shape at header byte %zu",
                           x->pos);
        }
    }
    x->pos++;
    if (n == 1 && !trailing_comma)
        return err_set("bad header dict: shape '(N)' is not a tuple (numpy writes '(N,)')");
    *ndim = n;
    return 0;
}

// descr '<f4' / '>i8' / '|u1' -> dtype and whether the data must be swapped into host order.
static int parse_descr(const char *d, NpyDtype *dt, int *swap) {
    char o = d[0];
    int i = 0;
    if (o != '<' && o != '>' && o != '|')
        return err_set("unsupported dtype '%s' (expected e.g. '<f4')", d);
    while (i < N_DTYPES && strcmp(d + 1, dtype_codes[i])) i++;
    if (i == N_DTYPES) return err_set("unsupported dtype '%s'", d);
    if (o == '|' && dtype_sizes[i] > 1)
        return err_set("dtype '%s' has no byte order but items of %zu bytes", d, dtype_sizes[i]);
    *dt = (NpyDtype)i;
    *swap = dtype_sizes[i] > 1 && ((o == '<') != host_is_le());
    return 0;
}

typedef struct {
    NpyDtype dtype;
    int swap, fortran, ndim;
    int64_t shape[NPY_MAX_DIMS];
} Header;

static int parse_dict(const char *s, size_t len, int allow_long, Header *h) {
    Lex x = {s, len, 0, allow_long};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (lex_expect(&x, '{', "at the start of the header")) return -1;
    while (lex_peek(&x) != '}') {
        char key[32];
        if (lex_string(&x, key, sizeof key)) return -1;
        if (lex_expect(&x, ':', "after a key")) return -1;
        if (!strcmp(key, "descr")) {
            if (have_descr) return err_set("bad header dict: 'descr' given twice");
            have_descr = 1;
            if (lex_peek(&x) == '[')
                return err_set("structured dtypes (a list descr) are not supported");
            char d[16];
            if (lex_string(&x, d, sizeof d) || parse_descr(d, &h->dtype, &h->swap)) return -1;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_fortran) return err_set("bad header dict: 'fortran_order' given twice");
            have_fortran = 1;
            if (lex_word(&x, "True")) h->fortran = 1;
            else if (lex_word(&x, "False")) h->fortran = 0;
            else return err_set("bad header dict: fortran_order must be True or False");
        } else if (!strcmp(key, "shape")) {
            if (have_shape) return err_set("bad header dict: 'shape' given twice");
            have_shape = 1;
            if (lex_shape(&x, &h->ndim, h->shape)) return -1;
        } else {
            return err_set("bad header dict: unexpected key '%s'", key);
        }
        int c = lex_peek(&x);
        if (c == ',') x.pos++;
        else if (c != '}')
            return err_set("bad header dict: expected ',' or '}' at header byte %zu", x.pos);
    }
    x.pos++;
    if (!have_descr || !have_fortran || !have_shape)
        return err_set("bad header dict: missing '%s'",
                       !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    lex_ws(&x);
    if (x.pos != x.len)
        return err_set("bad header dict: unexpected text after the dict at header byte %zu",
                       x.pos);
    return 0;
}

static const char *fmt_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(out, n, "(");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(out + o, n - o, ndim == 1 ? ",)" : ")");
    return out;
}

// ---- reading ---------------------------------------------------------------------------------

// Copies Fortran-order (column-major) src into C-order dst: walk the C index in order and move a
// source offset with the Fortran strides (1, d0, d0*d1, ...).
static void fortran_to_c(unsigned char *dst, const unsigned char *src, int ndim,
                         const int64_t *shape, size_t numel, size_t isz) {
    size_t fstride[NPY_MAX_DIMS], idx[NPY_MAX_DIMS] = {0};
    size_t st = 1;
    for (int k = 0; k < ndim; k++) {
        fstride[k] = st;
        st *= (size_t)shape[k];
    }
    size_t off = 0;
    for (size_t i = 0; i < numel; i++) {
        memcpy(dst + i * isz, src + off * isz, isz);
        for (int k = ndim - 1; k >= 0; k--) {
            off += fstride[k];
            if (++idx[k] < (size_t)shape[k]) break;
            off -= fstride[k] * (size_t)shape[k];
            idx[k] = 0;
        }
    }
}

int npy_parse(NpyArray *a, const void *bytes, size_t len) {
    memset(a, 0, sizeof *a);
    const unsigned char *b = bytes;
    if (len == 0) return err_set("empty file, not a .npy file");
    if (memcmp(b, "\x93NUMPY", len < 6 ? len : 6) != 0)
        return err_set("not a .npy file (bad magic; expected \\x93NUMPY)");
    if (len < 8) return err_set("truncated header (file is %zu bytes)", len);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return err_set("unsupported .npy version %d.%d (supported: 1.0, 2.0, 3.0)", major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (len < 8 + lenbytes) return err_set("truncated header (file is %zu bytes)", len);
    size_t hlen = 0;
    for (size_t i = lenbytes; i-- > 0;) hlen = hlen << 8 | b[8 + i];
    size_t hstart = 8 + lenbytes;
    if (hlen > len - hstart)
        return err_set("truncated header: header length %zu runs past the end of the file "
                       "(%zu bytes)", hlen, len);
    Header h;
    memset(&h, 0, sizeof h);
    if (parse_dict((const char *)b + hstart, hlen, major <= 2, &h)) return -1;
    // numel * item size, checked for overflow; a zero dimension makes the array empty.
    size_t isz = dtype_sizes[h.dtype];
    uint64_t numel = 1;
    int zero = 0;
    for (int i = 0; i < h.ndim; i++) zero |= h.shape[i] == 0;
    char sh[256];
    for (int i = 0; i < h.ndim && !zero; i++) {
        uint64_t d = (uint64_t)h.shape[i];
        if (numel > SIZE_MAX / isz / d)
            return err_set("shape %s of %s is too large (size overflows)",
                           fmt_shape(sh, sizeof sh, h.ndim, h.shape), dtype_codes[h.dtype]);
        numel *= d;
    }
    if (zero) numel = 0;
    size_t need = (size_t)numel * isz;
    size_t have = len - hstart - hlen;
    if (have < need)
        return err_set("data is truncated: %zu bytes, but shape %s of %s needs %zu", have,
                       fmt_shape(sh, sizeof sh, h.ndim, h.shape), dtype_codes[h.dtype], need);
    if (have > need)
        return err_set("%zu extra bytes after the data (shape %s of %s needs %zu)", have - need,
                       fmt_shape(sh, sizeof sh, h.ndim, h.shape), dtype_codes[h.dtype], need);
    unsigned char *data = malloc(need ? need : 1);
    if (!data) return err_set("out of memory for %zu bytes", need);
    const unsigned char *src = b + hstart + hlen;
    if (h.fortran && h.ndim > 1) fortran_to_c(data, src, h.ndim, h.shape, (size_t)numel, isz);
    else if (need) memcpy(data, src, need);
    if (h.swap) swap_bytes(data, (size_t)numel, isz);
    if (h.dtype == NPY_BOOL)
        for (size_t i = 0; i < need; i++) data[i] = data[i] != 0;
    a->dtype = h.dtype;
    a->ndim = h.ndim;
    memcpy(a->shape, h.shape, sizeof h.shape);
    a->numel = (size_t)numel;
    a->data = data;
    return 0;
}

int npy_load(NpyArray *a, const char *path) {
    memset(a, 0, sizeof *a);
    char *buf;
    size_t len;
    if (fileio_read_all(path, SIZE_MAX - 1, &buf, &len)) return -1;
    int rc = npy_parse(a, buf, len);
    free(buf);
    return rc ? err_prefix(path) : 0;
}

// IEEE binary16 -> binary32, exact (subnormals, infinities and NaN included).
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
    if (e == 0) {
        float v = ldexpf((float)m, -24);  // subnormal or zero: m * 2^-24
        return sign ? -v : v;
    } else if (e == 31) {
        bits = sign | 0x7F800000u | (m << 13);
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int npy_to_f32(const NpyArray *a, float *out) {
    const void *d = a->data;
    for (size_t i = 0; i < a->numel; i++) {
        switch (a->dtype) {
        case NPY_BOOL: out[i] = (float)((const uint8_t *)d)[i]; break;
        case NPY_I8: out[i] = (float)((const int8_t *)d)[i]; break;
        case NPY_U8: out[i] = (float)((const uint8_t *)d)[i]; break;
        case NPY_I16: out[i] = (float)((const int16_t *)d)[i]; break;
        case NPY_U16: out[i] = (float)((const uint16_t *)d)[i]; break;
        case NPY_I32: out[i] = (float)((const int32_t *)d)[i]; break;
        case NPY_U32: out[i] = (float)((const uint32_t *)d)[i]; break;
        case NPY_I64: out[i] = (float)((const int64_t *)d)[i]; break;
        case NPY_U64: out[i] = (float)((const uint64_t *)d)[i]; break;
        case NPY_F16: out[i] = half_to_float(((const uint16_t *)d)[i]); break;
        case NPY_F32: out[i] = ((const float *)d)[i]; break;
        case NPY_F64: out[i] = (float)((const double *)d)[i]; break;
        default: return err_set("invalid dtype %d", (int)a->dtype);
        }
    }
    return 0;
}

int npy_to_i64(const NpyArray *a, int64_t *out) {
    const void *d = a->data;
    switch (a->dtype) {
    case NPY_I8: case NPY_U8: case NPY_I16: case NPY_U16: case NPY_I32: case NPY_U32:
    case NPY_I64: case NPY_U64: break;
    default:
        return err_set("dtype %s is not an integer type, expected integer tokens",
                       npy_dtype_name(a->dtype));
    }
    for (size_t i = 0; i < a->numel; i++) {
        switch (a->dtype) {
        case NPY_I8: out[i] = ((const int8_t *)d)[i]; break;
        case NPY_U8: out[i] = ((const uint8_t *)d)[i]; break;
        case NPY_I16: out[i] = ((const int16_t *)d)[i]; break;
        case NPY_U16: out[i] = ((const uint16_t *)d)[i]; break;
        case NPY_I32: out[i] = ((const int32_t *)d)[i]; break;
        case NPY_U32: out[i] = ((const uint32_t *)d)[i]; break;
        case NPY_I64: out[i] = ((const int64_t *)d)[i]; break;
        default: {  // NPY_U64
            uint64_t v = ((const uint64_t *)d)[i];
            if (v > (uint64_t)INT64_MAX)
                return err_set("value %llu at index %zu does not fit in int64",
                               (unsigned long long)v, i);
            out[i] = (int64_t)v;
        }
        }
    }
    return 0;
}

int npy_load_f32(const char *path, float **data, int *ndim, int64_t *shape) {
    *data = NULL;
    NpyArray a;
    if (npy_load(&a, path)) return -1;
    float *out = malloc(a.numel ? a.numel * sizeof(float) : 1);
    if (!out) {
        npy_free(&a);
        return err_set("%s: out of memory", path);
    }
    npy_to_f32(&a, out);  // cannot fail: npy_parse only produces known dtypes
    *ndim = a.ndim;
    memcpy(shape, a.shape, (size_t)a.ndim * sizeof *shape);
    npy_free(&a);
    *data = out;
    return 0;
}

int npy_load_i64(const char *path, int64_t **data, int *ndim, int64_t *shape) {
    *data = NULL;
    NpyArray a;
    if (npy_load(&a, path)) return -1;
    int64_t *out = malloc(a.numel ? a.numel * sizeof(int64_t) : 1);
    if (!out) {
        npy_free(&a);
        return err_set("%s: out of memory", path);
    }
    if (npy_to_i64(&a, out)) {
        free(out);
        npy_free(&a);
        return err_prefix(path);
    }
    *ndim = a.ndim;
    memcpy(shape, a.shape, (size_t)a.ndim * sizeof *shape);
    npy_free(&a);
    *data = out;
    return 0;
}

// ---- writing ---------------------------------------------------------------------------------

// The v1.0 header numpy.save writes for this array: magic, u16 length, the dict with keys in
// sorted order, spare room for axis 0, then spaces and '\n' up to a multiple of 64 bytes.
static int build_header(Buf *h, NpyDtype dt, int ndim, const int64_t *shape) {
    char order = dtype_sizes[dt] == 1 ? '|' : host_is_le() ? '<' : '>';
    Buf d = {0};
    buf_printf(&d, "{'descr': '%c%s', 'fortran_order': False, 'shape': (", order,
               dtype_codes[dt]);
    for (int i = 0; i < ndim; i++) buf_printf(&d, i ? ", %lld" : "%lld", (long long)shape[i]);
    buf_puts(&d, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0) {
        char digits[24];
        int nd = snprintf(digits, sizeof digits, "%lld", (long long)shape[0]);
        for (int i = nd; i < GROWTH_AXIS_MAX_DIGITS; i++) buf_puts(&d, " ");
    }
    size_t hl = d.len + 1;  // with the final newline
    size_t pad = NPY_ALIGN - (10 + hl) % NPY_ALIGN;
    for (size_t i = 0; i < pad; i++) buf_puts(&d, " ");
    buf_puts(&d, "\n");
    if (d.oom || d.len > 65535) {
        buf_free(&d);
        return err_set("cannot build the header");
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(d.len & 0xFF),
                             (unsigned char)(d.len >> 8)};
    buf_append(h, pre, sizeof pre);
    buf_append(h, d.p, d.len);
    buf_free(&d);
    return h->oom ? err_set("out of memory") : 0;
}

static int writer_fail(NpyWriter *w, int e) {
    char path[1024];
    snprintf(path, sizeof path, "%s", w->af.path ? w->af.path : "npy");
    fileio_abort(&w->af);
    w->open = 0;
    return err_set("%s: write failed: %s", path, strerror(e ? e : EIO));
}

int npy_writer_begin(NpyWriter *w, const char *path, NpyDtype dtype, int ndim,
                     const int64_t *shape) {
    memset(w, 0, sizeof *w);
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES) return err_set("%s: invalid dtype", path);
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return err_set("%s: ndim %d outside [0, %d]", path, ndim, NPY_MAX_DIMS);
    w->dtype = dtype;
    w->ndim = ndim;
    w->rows_known = ndim == 0 || shape[0] != NPY_ROWS_UNKNOWN;
    uint64_t row = dtype_sizes[dtype];
    for (int i = 0; i < ndim; i++) {
        w->shape[i] = shape[i];
        if (shape[i] < 0 && !(i == 0 && shape[i] == NPY_ROWS_UNKNOWN))
            return err_set("%s: negative dimension %lld", path, (long long)shape[i]);
        if (i > 0) {
            if (shape[i] && row > SIZE_MAX / (uint64_t)shape[i])
                return err_set("%s: rows too large", path);
            row *= (uint64_t)shape[i];
        }
    }
    if (ndim > 0 && w->rows_known && row && (uint64_t)shape[0] > SIZE_MAX / row)
        return err_set("%s: array too large", path);
    if (!w->rows_known) w->shape[0] = 0;
    w->row_bytes = (size_t)row;
    Buf h = {0};
    if (build_header(&h, dtype, ndim, w->shape)) {
        buf_free(&h);
        return err_prefix(path);
    }
    w->header_len = h.len;
    if (fileio_begin(&w->af, path)) {
        buf_free(&h);
        return -1;
    }
    w->open = 1;
    errno = 0;
    int bad = fwrite(h.p, 1, h.len, w->af.f) != h.len;
    buf_free(&h);
    if (bad) return writer_fail(w, errno);
    return 0;
}

int npy_writer_write(NpyWriter *w, const void *rows, int64_t nrows) {
    if (!w->open) return err_set("npy writer: not open (an earlier step failed)");
    int64_t limit = w->ndim == 0 ? 1 : w->shape[0];
    if (nrows < 0 || (w->rows_known && nrows > limit - w->rows)) {
        char path[1024];
        snprintf(path, sizeof path, "%s", w->af.path);
        npy_writer_abort(w);
        return err_set("%s: %lld more rows would exceed the declared %lld", path,
                       (long long)nrows, (long long)limit);
    }
    if (w->row_bytes && (uint64_t)nrows > SIZE_MAX / w->row_bytes) return writer_fail(w, EFBIG);
    size_t n = (size_t)nrows * w->row_bytes;
    errno = 0;
    if (n && fwrite(rows, 1, n, w->af.f) != n) return writer_fail(w, errno);
    w->rows += nrows;
    return 0;
}

int npy_writer_commit(NpyWriter *w) {
    if (!w->open) return err_set("npy writer: not open (an earlier step failed)");
    int64_t limit = w->ndim == 0 ? 1 : w->shape[0];
    if (w->rows_known && w->rows != limit) {
        char path[1024];
        snprintf(path, sizeof path, "%s", w->af.path);
        npy_writer_abort(w);
        return err_set("%s: %lld rows written, the shape declared %lld", path,
                       (long long)w->rows, (long long)limit);
    }
    if (!w->rows_known) {
        // The header was written for 0 rows with numpy's spare room; the real count takes the
        // same number of bytes, so it is rewritten in place.
        w->shape[0] = w->rows;
        Buf h = {0};
        if (build_header(&h, w->dtype, w->ndim, w->shape) || h.len != w->header_len) {
            buf_free(&h);
            char path[1024];
            snprintf(path, sizeof path, "%s", w->af.path);
            npy_writer_abort(w);
            return err_set("%s: cannot rewrite the header", path);
        }
        errno = 0;
        int bad = fseek(w->af.f, 0, SEEK_SET) != 0 || fwrite(h.p, 1, h.len, w->af.f) != h.len;
        buf_free(&h);
        if (bad) return writer_fail(w, errno);
    }
    w->open = 0;
    return fileio_commit(&w->af);
}

void npy_writer_abort(NpyWriter *w) {
    if (w->open) fileio_abort(&w->af);
    w->open = 0;
}

int npy_save(const char *path, NpyDtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return err_set("%s: ndim %d outside [0, %d]", path, ndim, NPY_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return err_set("%s: negative dimension %lld", path, (long long)shape[i]);
    NpyWriter w;
    if (npy_writer_begin(&w, path, dtype, ndim, shape)) return -1;
    if (npy_writer_write(&w, data, ndim == 0 ? 1 : shape[0])) return -1;
    return npy_writer_commit(&w);
}

int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    return npy_save(path, NPY_F32, ndim, shape, data);
}

int npy_save_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape) {
    return npy_save(path, NPY_I32, ndim, shape, data);
}

int npy_save_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape) {
    return npy_save(path, NPY_I64, ndim, shape, data);
}
