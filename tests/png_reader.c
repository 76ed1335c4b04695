// png_reader.c — the tests' own PNG reader and base64 decoder, independent of interp/png.c and
// model/buf.c: what test_png.c, test_report.c and test_plot.c read the writers' output back with.
#include <stdint.h>
#include <string.h>

#include "helpers.h"

// Bit-at-a-time CRC-32 (no table), so it shares nothing with the writer's nibble table.
uint32_t test_slow_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

uint32_t test_slow_adler32(const uint8_t *p, size_t n) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TestPng test_png_decode(const uint8_t *f, size_t n) {
    TestPng d = {0};
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    cr_assert(n >= 8 && memcmp(f, sig, 8) == 0, "bad PNG signature");
    size_t pos = 8;
    uint8_t *z = NULL;
    size_t zn = 0;
    int seen_ihdr = 0, seen_iend = 0;
    while (pos < n) {
        cr_assert(pos + 12 <= n, "truncated chunk at %zu", pos);
        uint32_t len = rd32(f + pos);
        cr_assert(pos + 12 + len <= n, "chunk length %u past the end", len);
        const uint8_t *type = f + pos + 4, *data = f + pos + 8;
        cr_assert_eq(rd32(data + len), test_slow_crc32(type, len + 4), "chunk %.4s: CRC mismatch",
                     (const char *)type);
        if (!memcmp(type, "IHDR", 4)) {
            cr_assert(pos == 8 && len == 13, "IHDR must come first with 13 bytes");
            d.w = (int)rd32(data);
            d.h = (int)rd32(data + 4);
            cr_assert_eq(data[8], 8, "bit depth");
            cr_assert(data[9] == 0 || data[9] == 2, "colour type %d", data[9]);
            d.channels = data[9] == 0 ? 1 : 3;
            cr_assert(data[10] == 0 && data[11] == 0 && data[12] == 0, "method/filter/interlace");
            seen_ihdr = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            z = realloc(z, zn + len + 1);
            memcpy(z + zn, data, len);
            zn += len;
        } else if (!memcmp(type, "IEND", 4)) {
            cr_assert_eq(len, 0);
            seen_iend = 1;
            cr_assert_eq(pos + 12, n, "bytes after IEND");
        } else {
            cr_assert_fail("unexpected chunk %.4s", (const char *)type);
        }
        pos += 12 + len;
    }
    cr_assert(seen_ihdr && seen_iend && zn >= 6);
    // zlib: CMF/FLG, then stored blocks, then Adler-32 of the inflated bytes
    cr_assert_eq(z[0] & 15, 8, "compression method deflate");
    cr_assert_eq((z[0] * 256 + z[1]) % 31, 0, "FCHECK");
    cr_assert_eq(z[1] & 0x20, 0, "no preset dictionary");
    size_t row = (size_t)d.w * d.channels, raw_n = (size_t)d.h * (row + 1);
    uint8_t *raw = malloc(raw_n + 1);
    size_t zp = 2, rn = 0;
    for (int final = 0; !final;) {
        cr_assert(zp + 5 <= zn, "truncated deflate block header");
        final = z[zp] & 1;
        cr_assert_eq((z[zp] >> 1) & 3, 0, "only stored blocks expected");
        unsigned len = z[zp + 1] | z[zp + 2] << 8, nlen = z[zp + 3] | z[zp + 4] << 8;
        cr_assert_eq(len, (~nlen) & 0xffff, "LEN/NLEN mismatch");
        zp += 5;
        cr_assert(zp + len <= zn && rn + len <= raw_n, "stored block overruns");
        memcpy(raw + rn, z + zp, len);
        rn += len;
        zp += len;
        d.n_stored_blocks++;
    }
    cr_assert_eq(rn, raw_n, "inflated %zu bytes, expected %zu", rn, raw_n);
    cr_assert_eq(zp + 4, zn, "zlib stream length");
    cr_assert_eq(rd32(z + zp), test_slow_adler32(raw, rn), "Adler-32 mismatch");
    d.pix = malloc(row * d.h + 1);
    for (int y = 0; y < d.h; y++) {
        cr_assert_eq(raw[y * (row + 1)], 0, "row %d filter type", y);
        memcpy(d.pix + y * row, raw + y * (row + 1) + 1, row);
    }
    free(raw);
    free(z);
    return d;
}


size_t test_base64_decode(const char *s, uint8_t *out, size_t cap) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    for (;; s += 4) {
        int v[4] = {-1, -1, -1, -1};
        for (int i = 0; i < 4; i++) {  // stops at the terminator: nothing past it is read
            const char *p = s[i] ? strchr(a, s[i]) : NULL;
            v[i] = p ? (int)(p - a) : s[i] == '=' && i >= 2 ? -2 : -1;
            if (v[i] == -1) break;
        }
        if (v[0] < 0 || v[1] < 0 || v[2] == -1 || v[3] == -1) return n;  // the end of the data
        unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (v[2] >= 0 ? (unsigned)v[2] << 6 : 0) |
                     (v[3] >= 0 ? (unsigned)v[3] : 0);
        uint8_t b[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
        int k = v[2] < 0 ? 1 : v[3] < 0 ? 2 : 3;
        for (int i = 0; i < k && n < cap; i++) out[n++] = b[i];
        if (k < 3) return n;
    }
}
