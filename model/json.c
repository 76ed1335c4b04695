// json.c — iterative JSON parser into an arena.
//
// Values under construction sit on one growable "pending" stack shared by all nesting levels;
// each open container remembers where its children start on that stack. When a container closes,
// its children are copied into the arena as one array and popped, and the container itself is
// pushed as a child of its parent. So nesting costs a frame, not a C stack frame, and depth is
// capped by a number, not by the size of the thread's stack.
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fileio.h"

// ---- arena -----------------------------------------------------------------------------------

struct JsonChunk {
    JsonChunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(JsonDoc *doc, size_t n) {
    const size_t a = alignof(max_align_t);
    if (n > SIZE_MAX - a) return NULL;
    n = (n + a - 1) / a * a;
    JsonChunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof(JsonChunk)) return NULL;
        JsonChunk *nc = malloc(sizeof(JsonChunk) + cap);
        if (!nc) return NULL;
        nc->used = 0;
        nc->cap = cap;
        // A big one-off block goes behind the current chunk so the current chunk's free space
        // keeps serving small allocations.
        if (c && cap > ARENA_CHUNK) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            doc->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void json_free(JsonDoc *doc) {
    JsonChunk *c = doc->chunks;
    while (c) {
        JsonChunk *next = c->next;
        free(c);
        c = next;
    }
    doc->chunks = NULL;
    doc->root = NULL;
}

// ---- parser state ----------------------------------------------------------------------------

typedef struct {
    JsonType type;      // JSON_ARRAY or JSON_OBJECT
    size_t start;       // index of the first child on the pending stack
    size_t offset;      // byte offset of '[' or '{'
    const char *key;    // key under which this container sits in its parent (or NULL)
} Frame;

typedef struct {
    JsonDoc *doc;
    const unsigned char *s;
    size_t len, pos;
    JsonValue *pend;
    size_t npend, cappend;
    Frame frames[JSON_MAX_DEPTH];
    int depth;
} Parser;

static int perr(const Parser *p, size_t at, const char *what) {
    (void)p;
    return err_set("JSON byte %zu: %s", at, what);
}

static int oom(const Parser *p) { return perr(p, p->pos, "out of memory"); }

static void skip_ws(Parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int push(Parser *p, const JsonValue *v) {
    if (p->npend == p->cappend) {
        size_t cap = p->cappend ? p->cappend * 2 : 64;
        if (cap > SIZE_MAX / sizeof(JsonValue)) return oom(p);
        JsonValue *np = realloc(p->pend, cap * sizeof(JsonValue));
        if (!np) return oom(p);
        p->pend = np;
        p->cappend = cap;
    }
    p->pend[p->npend++] = *v;
    return 0;
}

// Length of the valid UTF-8 sequence at s (n bytes available), or 0 if it is not valid
// (overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid).
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c == 0xE0) k = 3, lo = 0xA0;
    else if (c == 0xED) k = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) k = 3;
    else if (c == 0xF0) k = 4, lo = 0x90;
    else if (c == 0xF4) k = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) k = 4;
    else return 0;
    if (n < k) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return k;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Parses the string starting at the opening quote at p->pos into the arena.
static int parse_string(Parser *p, const char **out, size_t *out_len) {
    size_t open = p->pos;
    size_t i = open + 1;
    // First pass: find the closing quote (so the decoded string can be allocated once; decoding
    // never makes a string longer than its escaped form).
    while (i < p->len && p->s[i] != '"') i += (p->s[i] == '\\') ? 2 : 1;
    if (i >= p->len) return perr(p, open, "unterminated string");
    size_t close = i;
    char *o = arena_alloc(p->doc, close - open);
    if (!o) return oom(p);
    size_t n = 0;
    i = open + 1;
    while (i < close) {
        unsigned char c = p->s[i];
        if (c < 0x20) return perr(p, i, "control character in string (must be escaped)");
        if (c != '\\') {
            size_t k = utf8_seq(p->s + i, close - i);
            if (!k) return perr(p, i, "invalid UTF-8 in string");
            memcpy(o + n, p->s + i, k);
            n += k;
            i += k;
            continue;
        }
        unsigned char e = p->s[i + 1];  // i + 1 < close: the first pass skipped it as a pair
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (close - i < 6 || hex4(p->s + i + 2, &cp))
                return perr(p, i, "bad \\u escape (needs 4 hex digits)");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return perr(p, i, "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (close - i < 12 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' ||
                    hex4(p->s + i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return perr(p, i, "high surrogate in \\u escape not followed by a low one");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            if (cp == 0) return perr(p, i, "\\u0000 in a string is not supported");
            n += put_utf8(o + n, cp);
            i += 6;
            continue;
        }
        default: return perr(p, i, "invalid escape in string");
        }
        i += 2;
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    p->pos = close + 1;
    return 0;
}

static int parse_number(Parser *p, JsonValue *v) {
    size_t st = p->pos, i = st;
    const unsigned char *s = p->s;
    int neg = 0, is_int = 1;
    if (i < p->len && s[i] == '-') neg = 1, i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9') return perr(p, st, "invalid number");
    size_t int_start = i;
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9')
            return perr(p, st, "invalid number (leading zero)");
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    size_t int_end = i;
    if (i < p->len && s[i] == '.') {
        is_int = 0;
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, st, "invalid number (no digit after '.')");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = 0;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, st, "invalid number (no digit in exponent)");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    v->type = JSON_NUMBER;
    v->is_int = 0;
    if (is_int) {
        // Exact integer: magnitude up to 2^63 (for -2^63), checked before each step.
        uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (size_t k = int_start; k < int_end; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (m > (lim - d) / 10) {
                fits = 0;
                break;
            }
            m = m * 10 + d;
        }
        if (fits) {
            v->is_int = 1;
            v->u.num.i = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m)
                             : (int64_t)m;
            // int64 -> double rounds to nearest, as strtod would.
            v->u.num.d = (double)v->u.num.i;
            if (neg && m == 0) v->u.num.d = -0.0;
            p->pos = i;
            return 0;
        }
    }
    // strtod needs a NUL-terminated copy, and it follows LC_NUMERIC: JSON's '.' becomes the
    // locale's decimal point so a program that called setlocale still reads "0.5" as 0.5.
    size_t n = i - st;
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) return oom(p);
    memcpy(tmp, s + st, n);
    tmp[n] = '\0';
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *dot = strchr(tmp, '.');
        if (dot) *dot = dp[0];
    }
    double d = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    if (isinf(d)) return perr(p, st, "number out of range for a double");
    v->u.num.d = d;
    p->pos = i;
    return 0;
}

static int match_word(Parser *p, const char *w) {
    size_t n = strlen(w);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static int key_cmp(const void *a, const void *b) {
    const JsonValue *x = *(const JsonValue *const *)a, *y = *(const JsonValue *const *)b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int dup_error(Parser *p, const JsonValue *later) {
    char k[80], msg[160];
    snprintf(msg, sizeof msg, "duplicate key '%s'", json_msg_str(k, sizeof k, later->key));
    return perr(p, later->offset, msg);
}

// Rejects an object with two members of the same key: O(n^2) for small objects, a sort of
// pointers for big ones so a hostile header with a million keys stays fast.
static int check_duplicates(Parser *p, const JsonValue *items, size_t n) {
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(items[i].key, items[j].key) == 0) return dup_error(p, &items[i]);
        return 0;
    }
    const JsonValue **ptr = malloc(n * sizeof *ptr);
    if (!ptr) return oom(p);
    for (size_t i = 0; i < n; i++) ptr[i] = &items[i];
    qsort(ptr, n, sizeof *ptr, key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ptr[i]->key, ptr[i - 1]->key) == 0) {
            const JsonValue *later = ptr[i];
            free(ptr);
            return dup_error(p, later);
        }
    }
    free(ptr);
    return 0;
}

// After '{' or ',' in an object: whitespace, a key string, whitespace, ':'.
static int parse_key(Parser *p, const char **key) {
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, p->pos, "unexpected end inside an object");
    if (p->s[p->pos] != '"') return perr(p, p->pos, "expected a string key");
    size_t klen;
    if (parse_string(p, key, &klen)) return -1;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return perr(p, p->pos, "expected ':' after an object key");
    p->pos++;
    return 0;
}

static int parse_all(Parser *p) {
    const char *key = NULL;  // key for the next value when inside an object
    for (;;) {
        // ---- a value ----
        skip_ws(p);
        if (p->pos >= p->len) return perr(p, p->pos, "unexpected end of input, expected a value");
        unsigned char c = p->s[p->pos];
        JsonValue v;
        memset(&v, 0, sizeof v);
        v.offset = p->pos;
        v.key = key;
        key = NULL;
        if (c == '{' || c == '[') {
            if (p->depth >= JSON_MAX_DEPTH) return perr(p, p->pos, "nesting too deep");
            Frame *f = &p->frames[p->depth++];
            f->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
            f->start = p->npend;
            f->offset = p->pos;
            f->key = v.key;
            p->pos++;
            skip_ws(p);
            char closer = c == '{' ? '}' : ']';
            if (p->pos < p->len && p->s[p->pos] == closer) {
                // empty container: fall through to the closing code below
            } else {
                if (c == '{' && parse_key(p, &key)) return -1;
                continue;
            }
        } else if (c == '"') {
            v.type = JSON_STRING;
            if (parse_string(p, &v.u.str.s, &v.u.str.len)) return -1;
            if (push(p, &v)) return -1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (parse_number(p, &v) || push(p, &v)) return -1;
        } else if (match_word(p, "true") || match_word(p, "false")) {
            v.type = JSON_BOOL;
            v.u.boolean = c == 't';
            if (push(p, &v)) return -1;
        } else if (match_word(p, "null")) {
            v.type = JSON_NULL;
            if (push(p, &v)) return -1;
        } else {
            return perr(p, p->pos, "unexpected character, expected a value");
        }
        // ---- after a value: ',' continues the container, a closer ends it (repeatedly) ----
        for (;;) {
            if (p->depth == 0) return 0;
            Frame *f = &p->frames[p->depth - 1];
            char closer = f->type == JSON_OBJECT ? '}' : ']';
            skip_ws(p);
            if (p->pos >= p->len)
                return perr(p, f->offset, f->type == JSON_OBJECT ? "unterminated object"
                                                                 : "unterminated array");
            unsigned char d = p->s[p->pos];
            if (d == ',') {
                p->pos++;
                if (f->type == JSON_OBJECT && parse_key(p, &key)) return -1;
                break;  // next value
            }
            if (d != closer)
                return perr(p, p->pos, f->type == JSON_OBJECT ? "expected ',' or '}' in object"
                                                              : "expected ',' or ']' in array");
            p->pos++;
            size_t n = p->npend - f->start;
            JsonValue cv;
            memset(&cv, 0, sizeof cv);
            cv.type = f->type;
            cv.offset = f->offset;
            cv.key = f->key;
            cv.u.arr.n = n;
            if (n) {
                if (n > SIZE_MAX / sizeof(JsonValue)) return oom(p);
                cv.u.arr.items = arena_alloc(p->doc, n * sizeof(JsonValue));
                if (!cv.u.arr.items) return oom(p);
                memcpy(cv.u.arr.items, p->pend + f->start, n * sizeof(JsonValue));
                if (f->type == JSON_OBJECT && check_duplicates(p, cv.u.arr.items, n)) return -1;
            }
            p->npend = f->start;
            p->depth--;
            if (push(p, &cv)) return -1;
        }
    }
}

int json_parse(JsonDoc *doc, const char *text, size_t len) {
    doc->root = NULL;
    doc->chunks = NULL;
    Parser *p = calloc(1, sizeof *p);
    if (!p) return err_set("JSON: out of memory");
    p->doc = doc;
    p->s = (const unsigned char *)text;
    p->len = len;
    int rc = parse_all(p);
    if (rc == 0) {
        skip_ws(p);
        if (p->pos < p->len) rc = perr(p, p->pos, "trailing characters after the JSON value");
    }
    if (rc == 0) {
        doc->root = arena_alloc(doc, sizeof(JsonValue));
        if (!doc->root) rc = oom(p);
        else *doc->root = p->pend[0];
    }
    free(p->pend);
    free(p);
    if (rc) json_free(doc);
    return rc;
}

int json_parse_file(JsonDoc *doc, const char *path, size_t max_len) {
    doc->root = NULL;
    doc->chunks = NULL;
    char *text;
    size_t len;
    if (fileio_read_all(path, max_len, &text, &len)) return -1;
    int rc = json_parse(doc, text, len);
    free(text);
    if (rc) return err_prefix(path);
    return 0;
}

// ---- lookup ----------------------------------------------------------------------------------

const char *json_type_name(JsonType t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "bool";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "?";
}

int json_is(const JsonValue *v, JsonType t) { return v && v->type == t; }

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    if (!json_is(obj, JSON_OBJECT) || !key) return NULL;
    for (size_t i = 0; i < obj->u.arr.n; i++)
        if (strcmp(obj->u.arr.items[i].key, key) == 0) return &obj->u.arr.items[i];
    return NULL;
}

const JsonValue *json_at(const JsonValue *v, size_t i) {
    if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT) || i >= v->u.arr.n) return NULL;
    return &v->u.arr.items[i];
}

size_t json_len(const JsonValue *v) {
    if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT)) return 0;
    return v->u.arr.n;
}

const char *json_str(const JsonValue *v) { return json_is(v, JSON_STRING) ? v->u.str.s : NULL; }

static int wrong_type(const JsonValue *v, const char *want) {
    if (!v) return err_set("expected %s, got nothing", want);
    return err_set("JSON byte %zu: expected %s, got %s", v->offset, want,
                   json_type_name(v->type));
}

int json_double(const JsonValue *v, double *out) {
    if (!json_is(v, JSON_NUMBER)) return wrong_type(v, "a number");
    *out = v->u.num.d;
    return 0;
}

int json_int(const JsonValue *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!json_is(v, JSON_NUMBER)) return wrong_type(v, "an integer");
    if (!v->is_int) {
        // A fraction, an exponent, or beyond int64: none is the exact integer we need.
        double d = v->u.num.d;
        const char *why = d != floor(d)                 ? ""
                          : fabs(d) >= 9223372036854775808.0 ? " (beyond 64-bit integers)"
                                                        : " (written with a fraction or exponent)";
        return err_set("JSON byte %zu: expected an integer in [%lld, %lld], got %.17g%s",
                       v->offset, (long long)lo, (long long)hi, d, why);
    }
    if (v->u.num.i < lo || v->u.num.i > hi)
        return err_set("JSON byte %zu: integer %lld out of range [%lld, %lld]", v->offset,
                       (long long)v->u.num.i, (long long)lo, (long long)hi);
    *out = v->u.num.i;
    return 0;
}

int json_bool(const JsonValue *v, int *out) {
    if (!json_is(v, JSON_BOOL)) return wrong_type(v, "true or false");
    *out = v->u.boolean;
    return 0;
}

static const JsonValue *member(const JsonValue *obj, const char *key) {
    if (!json_is(obj, JSON_OBJECT)) {
        if (obj) wrong_type(obj, "an object");
        else err_set("expected an object, got nothing");
        return NULL;
    }
    const JsonValue *v = json_get(obj, key);
    if (!v) {
        char k[80];
        err_set("missing key '%s'", json_msg_str(k, sizeof k, key));
    }
    return v;
}

static int keyed(const char *key, int rc) {
    if (rc == 0) return 0;
    char k[80], tmp[96];
    snprintf(tmp, sizeof tmp, "key '%s'", json_msg_str(k, sizeof k, key));
    return err_prefix(tmp);
}

int json_get_string(const JsonValue *obj, const char *key, const char **out) {
    const JsonValue *v = member(obj, key);
    if (!v) return -1;
    if (v->type != JSON_STRING) return keyed(key, wrong_type(v, "a string"));
    *out = v->u.str.s;
    return 0;
}

int json_get_double(const JsonValue *obj, const char *key, double *out) {
    const JsonValue *v = member(obj, key);
    return v ? keyed(key, json_double(v, out)) : -1;
}

int json_get_int(const JsonValue *obj, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const JsonValue *v = member(obj, key);
    return v ? keyed(key, json_int(v, lo, hi, out)) : -1;
}

int json_get_bool(const JsonValue *obj, const char *key, int *out) {
    const JsonValue *v = member(obj, key);
    return v ? keyed(key, json_bool(v, out)) : -1;
}

// ---- writing numbers -------------------------------------------------------------------------

// printf follows LC_NUMERIC too; put back the '.' JSON needs.
static void put_num(Buf *b, const char *fmt, double x) {
    if (!isfinite(x)) {
        buf_puts(b, "null");
        return;
    }
    char tmp[48];
    snprintf(tmp, sizeof tmp, fmt, x);
    for (char *c = tmp; *c; c++)
        if (*c == ',') *c = '.';
    buf_puts(b, tmp);
}

void json_put_float(Buf *b, float x) { put_num(b, "%.9g", (double)x); }
void json_put_double(Buf *b, double x) { put_num(b, "%.17g", x); }

int json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

const char *json_msg_str(char *out, size_t n, const char *s) {
    size_t o = 0;
    const size_t room = n - 4;  // keep space for "..." and the NUL
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = (c < 0x20 || c == 0x7F) ? 4 : 1;
        if (o + need > room) {
            // cut at a UTF-8 boundary: drop continuation bytes of a half-copied character
            while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80) o--;
            if (o > 0 && (unsigned char)out[o - 1] >= 0xC0) o--;
            memcpy(out + o, "...", 4);
            return out;
        }
        if (need == 4) {
            snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o] = (char)c;
        }
        o += need;
    }
    out[o] = '\0';
    return out;
}
