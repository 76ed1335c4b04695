// idx.c — IDX reader, a small inflate (RFC 1951) with a gzip member reader (RFC 1952), and the
// Fashion-MNIST loader. Nothing here trusts the input: every length, code and distance is
// checked before it is used, so a hostile file gives an error message, never a crash.
#include "idx.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/err.h"
#include "model/fileio.h"

// Larger files (compressed or not) are refused: Fashion-MNIST's largest file is 47 MB.
#define IDX_MAX_BYTES ((size_t)1 << 30)

// ---- CRC-32 (gzip trailer; PNG chunks use it too) ----------------------------------------------
// Two nibble lookups per byte: a table small enough to write out rather than build at run time
// (so there is no initialisation race between threads).
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};

uint32_t idx_crc32(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = crc_nibble[crc & 15] ^ (crc >> 4);
        crc = crc_nibble[crc & 15] ^ (crc >> 4);
    }
    return ~crc;
}

// ---- inflate ---------------------------------------------------------------------------------

typedef struct {
    const uint8_t *in;
    size_t n, pos;     // input and the next unread byte
    uint32_t bitbuf;   // bits read from the input but not yet used, least significant first
    int bitcnt;
    uint8_t *out;
    size_t len, cap, max;
    size_t start;      // where the current gzip member's output begins (its window)
} Inflate;

// A canonical Huffman code: count[l] codes of length l, symbols in canonical order.
typedef struct {
    short count[16];
    short symbol[288];
} Huff;

static int need_bits(Inflate *s, int need, uint32_t *v) {
    uint32_t val = s->bitbuf;
    while (s->bitcnt < need) {
        if (s->pos >= s->n) return err_set("gzip: compressed data ends early");
        val |= (uint32_t)s->in[s->pos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    s->bitbuf = val >> need;
    s->bitcnt -= need;
    *v = val & ((1u << need) - 1);
    return 0;
}

// Builds a code from code lengths (0 = unused). Over-subscribed sets are an error; incomplete
// ones are allowed (deflate uses them for one-code distance trees) and an unused code read from
// the stream is caught by huff_decode.
static int huff_build(Huff *h, const uint8_t *lengths, int n) {
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++) h->count[lengths[i]]++;
    int left = 1;
    for (int l = 1; l < 16; l++) {
        left = 2 * left - h->count[l];
        if (left < 0) return err_set("gzip: over-subscribed Huffman code lengths");
    }
    short offs[16];
    offs[1] = 0;
    for (int l = 1; l < 15; l++) offs[l + 1] = (short)(offs[l] + h->count[l]);
    for (int i = 0; i < n; i++)
        if (lengths[i]) h->symbol[offs[lengths[i]]++] = (short)i;
    return 0;
}

// Reads one symbol, one bit at a time: canonical codes of length l are the consecutive values
// first..first+count[l]-1 once the first l bits are read (most significant first).
static int huff_decode(Inflate *s, const Huff *h, int *sym) {
    int code = 0, first = 0, index = 0;
    for (int l = 1; l < 16; l++) {
        if (s->bitcnt == 0) {
            if (s->pos >= s->n) return err_set("gzip: compressed data ends early");
            s->bitbuf = s->in[s->pos++];
            s->bitcnt = 8;
        }
        code |= (int)(s->bitbuf & 1);
        s->bitbuf >>= 1;
        s->bitcnt--;
        int count = h->count[l];
        if (code - first < count) {
            *sym = h->symbol[index + code - first];
            return 0;
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return err_set("gzip: invalid Huffman code in the data");
}

static int out_reserve(Inflate *s, size_t more) {
    if (more > s->max - s->len)
        return err_set("gzip: decompressed data larger than %zu bytes", s->max);
    if (s->len + more <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 1 << 16;
    while (cap < s->len + more) cap = cap > s->max / 2 ? s->max : cap * 2;
    uint8_t *p = realloc(s->out, cap);
    if (!p) return err_set("gzip: out of memory for %zu decompressed bytes", cap);
    s->out = p;
    s->cap = cap;
    return 0;
}

static const short len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const short dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                    33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// Literal/length and distance symbols until end-of-block (256).
static int inflate_codes(Inflate *s, const Huff *lit, const Huff *dist) {
    for (;;) {
        int sym;
        if (huff_decode(s, lit, &sym)) return -1;
        if (sym < 256) {
            if (out_reserve(s, 1)) return -1;
            s->out[s->len++] = (uint8_t)sym;
        } else if (sym == 256) {
            return 0;
        } else {
            sym -= 257;
            if (sym >= 29) return err_set("gzip: invalid length code %d", sym + 257);
            uint32_t e, de;
            if (need_bits(s, len_extra[sym], &e)) return -1;
            size_t len = (size_t)len_base[sym] + e;
            int ds;
            if (huff_decode(s, dist, &ds)) return -1;
            if (ds >= 30) return err_set("gzip: invalid distance code %d", ds);
            if (need_bits(s, dist_extra[ds], &de)) return -1;
            size_t d = (size_t)dist_base[ds] + de;
            if (d > s->len - s->start)
                return err_set("gzip: back-reference %zu bytes before the start of the data", d);
            if (out_reserve(s, len)) return -1;
            // byte by byte: a copy may overlap what it writes (d < len repeats a pattern)
            for (size_t k = 0; k < len; k++, s->len++) s->out[s->len] = s->out[s->len - d];
        }
    }
}

static int inflate_stored(Inflate *s) {
    s->bitbuf = 0;  // stored blocks start at a byte boundary: drop the rest of the current byte
    s->bitcnt = 0;
    if (s->n - s->pos < 4) return err_set("gzip: compressed data ends early");
    unsigned len = s->in[s->pos] | s->in[s->pos + 1] << 8;
    unsigned nlen = s->in[s->pos + 2] | s->in[s->pos + 3] << 8;
    s->pos += 4;
    if (len != (~nlen & 0xffff)) return err_set("gzip: stored block length check failed");
    if (s->n - s->pos < len) return err_set("gzip: compressed data ends early");
    if (out_reserve(s, len)) return -1;
    if (len) memcpy(s->out + s->len, s->in + s->pos, len);  // (out may still be NULL if len = 0)
    s->len += len;
    s->pos += len;
    return 0;
}

static int inflate_fixed(Inflate *s) {
    // The fixed codes of RFC 1951 §3.2.6 (built per block: 320 bytes of work, no shared state).
    uint8_t l[288 + 30];
    for (int i = 0; i < 144; i++) l[i] = 8;
    for (int i = 144; i < 256; i++) l[i] = 9;
    for (int i = 256; i < 280; i++) l[i] = 7;
    for (int i = 280; i < 288; i++) l[i] = 8;
    for (int i = 0; i < 30; i++) l[288 + i] = 5;
    Huff lit, dist;
    huff_build(&lit, l, 288);
    huff_build(&dist, l + 288, 30);
    return inflate_codes(s, &lit, &dist);
}

static int inflate_dynamic(Inflate *s) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    uint32_t hlit, hdist, hclen, v;
    if (need_bits(s, 5, &hlit) || need_bits(s, 5, &hdist) || need_bits(s, 4, &hclen)) return -1;
    hlit += 257;
    hdist += 1;
    hclen += 4;
    if (hlit > 286 || hdist > 30) return err_set("gzip: bad dynamic block header");
    uint8_t l[286 + 30] = {0};
    for (uint32_t i = 0; i < hclen; i++) {
        if (need_bits(s, 3, &v)) return -1;
        l[order[i]] = (uint8_t)v;
    }
    Huff clen;
    if (huff_build(&clen, l, 19)) return -1;
    memset(l, 0, 19);
    uint32_t i = 0;
    while (i < hlit + hdist) {
        int sym;
        if (huff_decode(s, &clen, &sym)) return -1;
        if (sym < 16) {
            l[i++] = (uint8_t)sym;
            continue;
        }
        uint8_t val = 0;
        uint32_t rep;
        if (sym == 16) {
            if (i == 0) return err_set("gzip: repeated code length with no previous length");
            val = l[i - 1];
            if (need_bits(s, 2, &rep)) return -1;
            rep += 3;
        } else if (sym == 17) {
            if (need_bits(s, 3, &rep)) return -1;
            rep += 3;
        } else {
            if (need_bits(s, 7, &rep)) return -1;
            rep += 11;
        }
        if (i + rep > hlit + hdist) return err_set("gzip: code lengths overflow the block header");
        while (rep--) l[i++] = val;
    }
    if (l[256] == 0) return err_set("gzip: block has no end-of-block code");
    Huff lit, dist;
    if (huff_build(&lit, l, (int)hlit) || huff_build(&dist, l + hlit, (int)hdist)) return -1;
    return inflate_codes(s, &lit, &dist);
}

// One deflate stream from s->pos; leaves s->pos at the byte after its last bit.
static int inflate_stream(Inflate *s) {
    uint32_t final, type;
    do {
        if (need_bits(s, 1, &final) || need_bits(s, 2, &type)) return -1;
        int rc = type == 0   ? inflate_stored(s)
                 : type == 1 ? inflate_fixed(s)
                 : type == 2 ? inflate_dynamic(s)
                             : err_set("gzip: invalid block type 3");
        if (rc) return -1;
    } while (!final);
    s->bitbuf = 0;  // the unused bits of the last byte are padding
    s->bitcnt = 0;
    return 0;
}

static uint32_t le32(const uint8_t *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// One gzip member (header, deflate data, CRC-32 and length trailer) from s->pos.
static int gzip_member(Inflate *s) {
    const uint8_t *p = s->in;
    size_t n = s->n, pos = s->pos;
    if (n - pos < 10 || p[pos] != 0x1f || p[pos + 1] != 0x8b)
        return err_set("gzip: bad member header");
    if (p[pos + 2] != 8)
        return err_set("gzip: compression method %d (only 8, deflate)", p[pos + 2]);
    int flg = p[pos + 3];
    if (flg & 0xe0) return err_set("gzip: reserved header flags set (0x%02x)", flg);
    pos += 10;
    if (flg & 4) {  // FEXTRA
        if (n - pos < 2) return err_set("gzip: header ends early");
        size_t xlen = p[pos] | (size_t)p[pos + 1] << 8;
        pos += 2;
        if (n - pos < xlen) return err_set("gzip: header ends early");
        pos += xlen;
    }
    for (int f = 8; f <= 16; f <<= 1)  // FNAME, FCOMMENT: zero-terminated strings
        if (flg & f) {
            while (pos < n && p[pos]) pos++;
            if (pos >= n) return err_set("gzip: header ends early");
            pos++;
        }
    if (flg & 2) {  // FHCRC
        if (n - pos < 2) return err_set("gzip: header ends early");
        pos += 2;
    }
    s->pos = pos;
    s->start = s->len;
    if (inflate_stream(s)) return -1;
    if (s->n - s->pos < 8) return err_set("gzip: data ends before the CRC and length trailer");
    // (an empty member has no output buffer yet; its CRC is 0)
    uint32_t crc = s->len > s->start ? idx_crc32(0, s->out + s->start, s->len - s->start) : 0;
    if (crc != le32(p + s->pos))
        return err_set("gzip: CRC-32 mismatch (0x%08x, trailer says 0x%08x): the data is corrupt",
                       crc, le32(p + s->pos));
    if ((uint32_t)(s->len - s->start) != le32(p + s->pos + 4))
        return err_set("gzip: length mismatch (%zu bytes, trailer says %u mod 2^32)",
                       s->len - s->start, le32(p + s->pos + 4));
    s->pos += 8;
    return 0;
}

int idx_gunzip(const uint8_t *gz, size_t n, size_t max_out, uint8_t **out, size_t *out_len) {
    Inflate s = {.in = gz, .n = n, .max = max_out};
    *out = NULL;
    *out_len = 0;
    do {
        if (gzip_member(&s)) {
            free(s.out);
            return -1;
        }
        // gzip concatenates members; some tools pad with zero bytes at the end
        size_t k = s.pos;
        while (k < n && gz[k] == 0) k++;
        if (k == n) break;
        if (k != s.pos || n - s.pos < 2 || gz[s.pos] != 0x1f || gz[s.pos + 1] != 0x8b) {
            free(s.out);
            return err_set("gzip: %zu unexpected bytes after the compressed data", n - s.pos);
        }
    } while (1);
    if (!s.out) s.out = malloc(1);  // an empty file: a valid, empty buffer
    if (!s.out) return err_set("gzip: out of memory");
    *out = s.out;
    *out_len = s.len;
    return 0;
}

// ---- IDX -------------------------------------------------------------------------------------

static const char *idx_type_name(int t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// Validates buf[len] (decompressed) and takes ownership of it (freed on failure too).
static int parse_owned(IdxArray *a, uint8_t *buf, size_t len) {
    memset(a, 0, sizeof *a);
    int rc = -1;
    if (len < 4) {
        err_set("file of %zu bytes is too short for an IDX header", len);
        goto fail;
    }
    if (buf[0] != 0 || buf[1] != 0) {
        err_set("bad magic number 0x%08x: not an IDX file (MNIST images are 0x00000803, labels "
                "0x00000801)", be32(buf));
        goto fail;
    }
    int type = buf[2], ndim = buf[3];
    if (type != 0x08) {
        const char *tn = idx_type_name(type);
        if (tn)
            err_set("data type 0x%02X (%s) is not supported: only 0x08 (unsigned byte)", type, tn);
        else
            err_set("unknown IDX data type code 0x%02X (magic 0x%08x)", type, be32(buf));
        goto fail;
    }
    if (ndim < 1 || ndim > IDX_MAX_DIMS) {
        err_set("%d dimensions in the header (1..%d supported)", ndim, IDX_MAX_DIMS);
        goto fail;
    }
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr) {
        err_set("header of %d dimensions needs %zu bytes, the file has %zu", ndim, hdr, len);
        goto fail;
    }
    char shape[64] = "";
    size_t count = 1, data = len - hdr;
    int too_big = 0;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        size_t k = strlen(shape);
        snprintf(shape + k, sizeof shape - k, i ? "x%u" : "%u", d);
        if (d == 0 || d > INT_MAX) {
            err_set("dimension %d is %u (must be 1..%d)", i, d, INT_MAX);
            goto fail;
        }
        a->dims[i] = (int)d;
        // a product that would overflow size_t is certainly more than the file holds
        if (too_big || count > SIZE_MAX / d) too_big = 1;
        else count *= d;
    }
    if (too_big || count != data) {
        if (too_big)
            err_set("dimensions %s need more data bytes than the %zu the file has", shape, data);
        else
            err_set("dimensions %s need %zu data bytes, the file has %zu%s", shape, count, data,
                    count > data ? " (truncated?)" : " (trailing bytes)");
        goto fail;
    }
    for (int i = ndim; i < IDX_MAX_DIMS; i++) a->dims[i] = 1;
    a->type = type;
    a->ndim = ndim;
    a->count = count;
    a->buf = buf;
    a->data = buf + hdr;
    return 0;
fail:
    free(buf);
    memset(a, 0, sizeof *a);
    return rc;
}

static int is_gzip(const uint8_t *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

int idx_parse(IdxArray *a, const uint8_t *bytes, size_t n) {
    memset(a, 0, sizeof *a);
    uint8_t *buf;
    size_t len;
    if (is_gzip(bytes, n)) {
        if (idx_gunzip(bytes, n, IDX_MAX_BYTES, &buf, &len)) return -1;
    } else {
        buf = malloc(n ? n : 1);
        if (!buf) return err_set("out of memory for %zu bytes", n);
        memcpy(buf, bytes, n);
        len = n;
    }
    return parse_owned(a, buf, len);
}

int idx_read(IdxArray *a, const char *path) {
    memset(a, 0, sizeof *a);
    char *raw;
    size_t n;
    if (fileio_read_all(path, IDX_MAX_BYTES, &raw, &n)) return -1;
    uint8_t *buf = (uint8_t *)raw;
    if (is_gzip(buf, n)) {
        uint8_t *z;
        size_t zn;
        int rc = idx_gunzip(buf, n, IDX_MAX_BYTES, &z, &zn);
        free(buf);
        if (rc) return err_prefix(path);
        buf = z;
        n = zn;
    }
    if (parse_owned(a, buf, n)) return err_prefix(path);
    return 0;
}

void idx_free(IdxArray *a) {
    if (!a) return;
    free(a->buf);
    memset(a, 0, sizeof *a);
}

int idx_load_pair(ImageSet *s, const char *images_path, const char *labels_path) {
    memset(s, 0, sizeof *s);
    IdxArray im, lb;
    if (idx_read(&im, images_path)) return -1;
    if (im.ndim != 3) {
        err_set("%s: expected an image file [N, rows, cols] (magic 0x00000803), got %d "
                "dimension%s (magic 0x000008%02x)", images_path, im.ndim, im.ndim == 1 ? "" : "s",
                im.ndim);
        idx_free(&im);
        return -1;
    }
    if (idx_read(&lb, labels_path)) {
        idx_free(&im);
        return -1;
    }
    int rc = -1;
    if (lb.ndim != 1) {
        err_set("%s: expected a label file [N] (magic 0x00000801), got %d dimensions "
                "(magic 0x000008%02x)", labels_path, lb.ndim, lb.ndim);
        goto done;
    }
    if (lb.dims[0] != im.dims[0]) {
        err_set("%s: %d labels, but %s has %d images", labels_path, lb.dims[0], images_path,
                im.dims[0]);
        goto done;
    }
    int maxl = 0;
    for (size_t i = 0; i < lb.count; i++)
        if (lb.data[i] > maxl) maxl = lb.data[i];
    if (images_alloc(s, im.dims[0], 1, im.dims[1], im.dims[2], maxl + 1, 0)) {
        err_prefix(images_path);
        goto done;
    }
    for (size_t i = 0; i < im.count; i++) s->x[i] = (float)im.data[i] / 255.0f;
    for (size_t i = 0; i < lb.count; i++) s->y[i] = lb.data[i];
    rc = 0;
done:
    idx_free(&im);
    idx_free(&lb);
    return rc;
}

// dir/name.gz if it exists, else dir/name if it exists; -1 (err set) if neither does.
static int find_file(char *out, size_t n, const char *dir, const char *name) {
    snprintf(out, n, "%s/%s.gz", dir, name);
    if (access(out, F_OK) == 0) return 0;
    snprintf(out, n, "%s/%s", dir, name);
    if (access(out, F_OK) == 0) return 0;
    return err_set("fashion-mnist: %s(.gz) not found in %s. Install Debian's package "
                   "(sudo apt-get install dataset-fashion-mnist, which puts the files in %s), or "
                   "give the folder that holds the four files of "
                   "https://github.com/zalandoresearch/fashion-mnist (--data-dir DIR)",
                   name, dir, IDX_FASHION_DIR);
}

int idx_load_fashion_mnist(ImageSet *s, const char *dir, int test) {
    memset(s, 0, sizeof *s);
    if (!dir) dir = IDX_FASHION_DIR;
    const char *split = test ? "t10k" : "train";
    char name[64], ip[4096], lp[4096];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    if (find_file(ip, sizeof ip, dir, name)) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    if (find_file(lp, sizeof lp, dir, name)) return -1;
    if (idx_load_pair(s, ip, lp)) return -1;
    if (s->H != 28 || s->W != 28) {
        err_set("%s: images are %dx%d, Fashion-MNIST's are 28x28", ip, s->H, s->W);
        images_free(s);
        return -1;
    }
    if (s->n_classes > 10) {
        err_set("%s: label %d outside Fashion-MNIST's 0..9", lp, s->n_classes - 1);
        images_free(s);
        return -1;
    }
    s->n_classes = 10;
    return 0;
}

const char *idx_fashion_class_name(int label) {
    static const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return label >= 0 && label < 10 ? names[label] : NULL;
}
