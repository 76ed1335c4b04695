// png.c — PNG encoder with stored deflate blocks, colour maps, overlays and tile grids.
#include "png.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/idx.h"
#include "model/err.h"
#include "model/fileio.h"

// Larger images are refused: nothing mechlab draws comes near, and it keeps every size product
// below 2^31 so no int arithmetic below can overflow.
#define PNG_MAX_SIDE 16384
#define PNG_MAX_BYTES ((size_t)1 << 28)
#define PNG_STORED_MAX 65535  // the most bytes one stored deflate block holds (LEN is 16 bits)
#define PNG_GAP 96            // grey level of the gaps in a tile grid

// ---- checksums -------------------------------------------------------------------------------

uint32_t png_adler32(uint32_t adler, const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n > 0) {
        // 5552: the most bytes for which b cannot overflow 32 bits before reducing (RFC 1950).
        size_t m = n < 5552 ? n : 5552;
        for (size_t i = 0; i < m; i++) {
            a += p[i];
            b += a;
        }
        a %= 65521;
        b %= 65521;
        p += m;
        n -= m;
    }
    return (b << 16) | a;
}

// ---- encoder ---------------------------------------------------------------------------------

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

// Writes a chunk (length, type, data, CRC over type and data) whose data is already at p + 8.
static uint8_t *chunk_close(uint8_t *p, const char type[4], size_t len) {
    put32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    uint32_t crc = idx_crc32(0, p + 4, len + 4);
    return put32(p + 8 + len, crc);
}

static int check_size(int w, int h, int channels) {
    if (channels != 1 && channels != 3)
        return err_set("png: %d channels (1 grey or 3 RGB are supported)", channels);
    if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return err_set("png: image size %dx%d outside 1..%d", w, h, PNG_MAX_SIDE);
    if ((size_t)w * h * channels > PNG_MAX_BYTES)
        return err_set("png: image of %dx%dx%d bytes is larger than %zu", w, h, channels,
                       PNG_MAX_BYTES);
    return 0;
}

int png_encode(uint8_t **out, size_t *out_len, const uint8_t *pix, int w, int h, int channels) {
    *out = NULL;
    *out_len = 0;
    if (check_size(w, h, channels)) return -1;
    size_t row = (size_t)w * channels, raw = (size_t)h * (row + 1);  // +1: the filter byte
    size_t blocks = raw / PNG_STORED_MAX + 1;  // +1 covers the remainder (or an empty last block)
    size_t zlen = 2 + raw + 5 * blocks + 4;    // zlib header, data, block headers, Adler-32
    size_t total = 8 + (12 + 13) + (12 + zlen) + 12;
    uint8_t *buf = malloc(total);
    if (!buf) return err_set("png: out of memory for a %zu-byte file", total);

    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    uint8_t *p = buf + 8, *d = p + 8;
    d = put32(d, (uint32_t)w);
    d = put32(d, (uint32_t)h);
    d[0] = 8;                          // bit depth
    d[1] = channels == 1 ? 0 : 2;      // colour type: grey / truecolour
    d[2] = d[3] = d[4] = 0;            // deflate, adaptive filtering (method 0), no interlace
    p = chunk_close(p, "IHDR", 13);

    // IDAT: zlib header 0x78 0x01 (deflate, 32K window, no dictionary, FCHECK making 0x7801 a
    // multiple of 31), stored blocks over the filtered scanlines, Adler-32 of the raw bytes.
    d = p + 8;
    *d++ = 0x78;
    *d++ = 0x01;
    uint32_t adler = 1;
    size_t left = raw;
    int y = 0;
    size_t in_row = 0;  // bytes of the current scanline (filter byte included) already emitted
    for (size_t b = 0; b < blocks; b++) {
        size_t n = left < PNG_STORED_MAX ? left : PNG_STORED_MAX;
        *d++ = b + 1 == blocks ? 1 : 0;  // BFINAL, BTYPE 00 (stored), rest of the byte padding
        d[0] = (uint8_t)n;
        d[1] = (uint8_t)(n >> 8);
        d[2] = (uint8_t)~n;
        d[3] = (uint8_t)(~n >> 8);
        d += 4;
        uint8_t *start = d;
        for (size_t k = 0; k < n;) {  // copy n scanline bytes, continuing mid-row
            if (in_row == 0) {
                *d++ = 0;  // filter type None
                k++;
                in_row = 1;
                continue;
            }
            size_t take = row + 1 - in_row;
            if (take > n - k) take = n - k;
            memcpy(d, pix + (size_t)y * row + (in_row - 1), take);
            d += take;
            k += take;
            in_row += take;
            if (in_row == row + 1) {
                in_row = 0;
                y++;
            }
        }
        adler = png_adler32(adler, start, n);
        left -= n;
    }
    d = put32(d, adler);
    p = chunk_close(p, "IDAT", zlen);
    p = chunk_close(p, "IEND", 0);
    *out = buf;
    *out_len = (size_t)(p - buf);
    return 0;
}

int png_write(const char *path, const uint8_t *pix, int w, int h, int channels) {
    uint8_t *png;
    size_t n;
    if (png_encode(&png, &n, pix, w, h, channels)) return err_prefix(path);
    int rc = fileio_write_all(path, png, n);
    free(png);
    return rc;
}

// ---- colour maps -----------------------------------------------------------------------------

static uint8_t to_byte(float t) {  // t in [0, 1] → 0..255, rounded
    return (uint8_t)lrintf(t <= 0 ? 0.0f : t >= 1 ? 255.0f : 255.0f * t);
}

void png_colormap(PngColormap cmap, float v, float lo, float hi, uint8_t rgb[3]) {
    if (cmap == PNG_GREY) {
        float t = isfinite(v) ? (v - lo) / (hi - lo) : 0.0f;
        rgb[0] = rgb[1] = rgb[2] = to_byte(t);
        return;
    }
    // Diverging: t in [-1, 1] around the midpoint of [lo, hi]; white at t = 0.
    static const float blue[3] = {33, 102, 172}, red[3] = {178, 24, 43};
    float mid = 0.5f * (lo + hi), half = 0.5f * (hi - lo);
    float t = isfinite(v) ? (v - mid) / half : 0.0f;
    if (t > 1) t = 1;
    if (t < -1) t = -1;
    const float *end = t < 0 ? blue : red;
    float a = fabsf(t);
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)lrintf(255.0f + a * (end[c] - 255.0f));
}

// The automatic range of x[n] for a colour map (see png.h); a constant image gets a range
// around its value so it draws mid-grey / white.
static void auto_range(PngColormap cmap, const float *x, size_t n, float *lo, float *hi) {
    float mn = INFINITY, mx = -INFINITY, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        if (fabsf(x[i]) > m) m = fabsf(x[i]);
    }
    if (cmap == PNG_DIVERGING) {
        if (m == 0) m = 1;
        *lo = -m;
        *hi = m;
        return;
    }
    if (!(mn < mx)) {
        float c = mn <= mx ? mn : 0.0f;  // every value equal (or none finite)
        mn = c - 1;
        mx = c + 1;
    }
    *lo = mn;
    *hi = mx;
}

static void style_range(const PngStyle *s, const float *x, size_t n, float *lo, float *hi) {
    if (s->lo != s->hi) {
        *lo = s->lo;
        *hi = s->hi;
    } else {
        auto_range(s->cmap, x, n, lo, hi);
    }
}

static int style_scale(const PngStyle *s, int *scale) {
    *scale = s->scale <= 1 ? 1 : s->scale;
    if (s->scale > 64) return err_set("png: scale %d larger than 64", s->scale);
    if (!(isfinite(s->lo) && isfinite(s->hi)))
        return err_set("png: colour range [%g, %g] is not finite", (double)s->lo, (double)s->hi);
    return 0;
}

// Canvas of w×h RGB pixels drawn at 1×; written with each pixel a scale×scale block, as grey
// (1 channel) when `grey` is set.
typedef struct {
    uint8_t *rgb;
    int w, h;
} Canvas;

static int canvas_write(const char *path, const Canvas *c, int scale, int grey) {
    int ch = grey ? 1 : 3;
    if ((size_t)c->w * scale > PNG_MAX_SIDE || (size_t)c->h * scale > PNG_MAX_SIDE) {
        err_set("png: image size %dx%d at scale %d is larger than %d", c->w, c->h, scale,
                PNG_MAX_SIDE);
        return err_prefix(path);
    }
    int W = c->w * scale, H = c->h * scale;
    uint8_t *pix = malloc((size_t)W * H * ch);
    if (!pix) {
        err_set("png: out of memory");
        return err_prefix(path);
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *s = c->rgb + ((size_t)(y / scale) * c->w + x / scale) * 3;
            uint8_t *d = pix + ((size_t)y * W + x) * ch;
            for (int k = 0; k < ch; k++) d[k] = s[k];
        }
    int rc = png_write(path, pix, W, H, ch);
    free(pix);
    return rc;
}

static int canvas_alloc(Canvas *c, int w, int h, const char *path) {
    c->w = w;
    c->h = h;
    c->rgb = NULL;
    if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE) {
        err_set("png: image size %dx%d outside 1..%d", w, h, PNG_MAX_SIDE);
        return err_prefix(path);
    }
    c->rgb = malloc((size_t)w * h * 3);
    if (!c->rgb) {
        err_set("png: out of memory");
        return err_prefix(path);
    }
    return 0;
}

int png_write_float(const char *path, const float *img, int h, int w, const PngStyle *style) {
    int scale;
    if (style_scale(style, &scale)) return err_prefix(path);
    Canvas c;
    if (canvas_alloc(&c, w, h, path)) return -1;
    float lo, hi;
    style_range(style, img, (size_t)w * h, &lo, &hi);
    for (size_t i = 0; i < (size_t)w * h; i++)
        png_colormap(style->cmap, img[i], lo, hi, c.rgb + 3 * i);
    int rc = canvas_write(path, &c, scale, style->cmap == PNG_GREY);
    free(c.rgb);
    return rc;
}

int png_write_overlay(const char *path, const float *base, const float *heat, int h, int w,
                      float alpha, int scale) {
    if (!(alpha >= 0 && alpha <= 1)) {
        err_set("png: overlay opacity %g outside [0, 1]", (double)alpha);
        return err_prefix(path);
    }
    PngStyle st = {.scale = scale};
    int sc;
    if (style_scale(&st, &sc)) return err_prefix(path);
    Canvas c;
    if (canvas_alloc(&c, w, h, path)) return -1;
    size_t n = (size_t)w * h;
    float blo, bhi, hlo, hhi;
    auto_range(PNG_GREY, base, n, &blo, &bhi);
    auto_range(PNG_DIVERGING, heat, n, &hlo, &hhi);
    for (size_t i = 0; i < n; i++) {
        uint8_t g[3], col[3];
        png_colormap(PNG_GREY, base[i], blo, bhi, g);
        png_colormap(PNG_DIVERGING, heat[i], hlo, hhi, col);
        float a = isfinite(heat[i]) ? alpha * fminf(1.0f, fabsf(heat[i]) / hhi) : 0.0f;
        for (int k = 0; k < 3; k++)
            c.rgb[3 * i + k] = (uint8_t)lrintf((1 - a) * g[k] + a * col[k]);
    }
    int rc = canvas_write(path, &c, sc, 0);
    free(c.rgb);
    return rc;
}

int png_write_grid(const char *path, const float *tiles, int n, int th, int tw, int cols,
                   const PngStyle *style, int per_tile) {
    int scale;
    if (style_scale(style, &scale)) return err_prefix(path);
    if (n < 1 || th < 1 || tw < 1 || th > PNG_MAX_SIDE || tw > PNG_MAX_SIDE || n > PNG_MAX_SIDE ||
        cols < 0) {
        err_set("png: grid of %d tiles of %dx%d with %d columns", n, th, tw, cols);
        return err_prefix(path);
    }
    if (cols == 0)
        while ((long)cols * cols < n) cols++;
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    // 1-pixel gaps around and between tiles; sizes in long so a silly request cannot overflow
    long W = (long)cols * (tw + 1) + 1, H = (long)rows * (th + 1) + 1;
    if (W > PNG_MAX_SIDE || H > PNG_MAX_SIDE) {
        err_set("png: grid of %ldx%ld pixels is larger than %d", W, H, PNG_MAX_SIDE);
        return err_prefix(path);
    }
    Canvas c;
    if (canvas_alloc(&c, (int)W, (int)H, path)) return -1;
    memset(c.rgb, PNG_GAP, (size_t)W * H * 3);
    size_t tn = (size_t)th * tw;
    float lo = 0, hi = 0;
    if (!per_tile) style_range(style, tiles, tn * n, &lo, &hi);
    for (int t = 0; t < n; t++) {
        const float *x = tiles + t * tn;
        if (per_tile) auto_range(style->cmap, x, tn, &lo, &hi);
        int x0 = (t % cols) * (tw + 1) + 1, y0 = (t / cols) * (th + 1) + 1;
        for (int y = 0; y < th; y++)
            for (int xx = 0; xx < tw; xx++)
                png_colormap(style->cmap, x[y * tw + xx], lo, hi,
                             c.rgb + ((size_t)(y0 + y) * W + x0 + xx) * 3);
    }
    int rc = canvas_write(path, &c, scale, style->cmap == PNG_GREY);
    free(c.rgb);
    return rc;
}
