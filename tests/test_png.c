// PNG writer (interp/png.c): checksums against their published check values, and every file the
// writer produces parsed back by the tests' minimal PNG reader (tests/png_reader.c, written from
// the specification: signature, IHDR fields, every chunk's CRC recomputed bit by bit, the zlib
// header, stored deflate blocks with LEN/NLEN, Adler-32 recomputed the slow way, filter bytes) to
// the exact pixels. Then the colour maps, scaling, overlay and grid layout on hand-computed pixels.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "datasets/idx.h"
#include "helpers.h"
#include "interp/png.h"
#include "model/err.h"
#include "model/fileio.h"

TestSuite(png);

static TestPng decode_file(const char *path) {
    char *s;
    size_t n;
    cr_assert_eq(fileio_read_all(path, (size_t)1 << 26, &s, &n), 0, "%s", err_msg());
    TestPng d = test_png_decode((const uint8_t *)s, n);
    free(s);
    return d;
}

// ---- checksums -------------------------------------------------------------------------------

// The chunk CRC is datasets/idx.h's idx_crc32 (shared with the gzip reader).
Test(png, crc32_check_value) {
    cr_assert_eq(idx_crc32(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(idx_crc32(0, "", 0), 0u);
    // chained calls equal one call
    cr_assert_eq(idx_crc32(idx_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    // "IEND" with no data: the fixed CRC every PNG ends with
    cr_assert_eq(idx_crc32(0, "IEND", 4), 0xAE426082u);
    uint8_t big[3000];
    for (int i = 0; i < 3000; i++) big[i] = (uint8_t)(i * 31 + 7);
    cr_assert_eq(idx_crc32(0, big, sizeof big), test_slow_crc32(big, sizeof big));
}

Test(png, adler32_check_value) {
    cr_assert_eq(png_adler32(1, "Wikipedia", 9), 0x11E60398u);
    cr_assert_eq(png_adler32(1, "", 0), 1u);
    cr_assert_eq(png_adler32(png_adler32(1, "Wiki", 4), "pedia", 5), 0x11E60398u);
    // long input: crosses the 5552-byte reduction boundary several times, all bytes 0xff
    enum { N = 20000 };
    static uint8_t buf[N];
    memset(buf, 0xff, N);
    cr_assert_eq(png_adler32(1, buf, N), test_slow_adler32(buf, N));
}

// ---- encoder round trips ---------------------------------------------------------------------

static void roundtrip(int w, int h, int ch, int expect_blocks) {
    size_t n = (size_t)w * h * ch;
    uint8_t *pix = malloc(n);
    for (size_t i = 0; i < n; i++) pix[i] = (uint8_t)(i * 7 + i / 13);
    uint8_t *png;
    size_t len;
    cr_assert_eq(png_encode(&png, &len, pix, w, h, ch), 0, "%s", err_msg());
    TestPng d = test_png_decode(png, len);
    cr_assert_eq(d.w, w);
    cr_assert_eq(d.h, h);
    cr_assert_eq(d.channels, ch);
    cr_assert(memcmp(d.pix, pix, n) == 0, "%dx%dx%d pixels differ after the round trip", w, h, ch);
    if (expect_blocks) cr_assert_eq(d.n_stored_blocks, expect_blocks);
    free(d.pix);
    free(png);
    free(pix);
}

Test(png, roundtrip_small_odd_sizes) {
    roundtrip(1, 1, 1, 1);
    roundtrip(7, 3, 3, 1);
    roundtrip(3, 17, 1, 1);
}

Test(png, roundtrip_many_stored_blocks) {
    // 300x100 RGB: 100 rows of 901 bytes = 90100 bytes → two blocks, the split mid-row
    roundtrip(300, 100, 3, 2);
    // exactly 65535 raw bytes (5 rows of 13106+1 bytes... 65535 = 5·13107): a full block, then
    // an empty final one
    roundtrip(13106, 5, 1, 2);
    roundtrip(1000, 200, 1, 4);  // 200200 bytes: 3 full blocks + remainder
}

Test(png, bad_arguments_are_errors) {
    uint8_t pix[16] = {0}, *png;
    size_t len;
    cr_assert_eq(png_encode(&png, &len, pix, 2, 2, 2), -1);
    cr_assert(strstr(err_msg(), "channels"), "%s", err_msg());
    cr_assert_eq(png_encode(&png, &len, pix, 0, 2, 1), -1);
    cr_assert(strstr(err_msg(), "0x2"), "%s", err_msg());
    cr_assert_eq(png_write("/nonexistent-dir/x.png", pix, 2, 2, 1), -1);
    cr_assert(strstr(err_msg(), "/nonexistent-dir/x.png"), "%s", err_msg());
    float img[4] = {0};
    PngStyle st = {.scale = 65};
    cr_assert_eq(png_write_float("/tmp/never.png", img, 2, 2, &st), -1);
    cr_assert(strstr(err_msg(), "/tmp/never.png") && strstr(err_msg(), "scale"), "%s", err_msg());
}

// ---- colour maps and helpers -----------------------------------------------------------------

Test(png, colormaps) {
    uint8_t c[3];
    png_colormap(PNG_GREY, -1, -1, 3, c);
    cr_assert(c[0] == 0 && c[1] == 0 && c[2] == 0);
    png_colormap(PNG_GREY, 3, -1, 3, c);
    cr_assert_eq(c[0], 255);
    png_colormap(PNG_GREY, 1, -1, 3, c);  // halfway: 127.5 rounds to even 128
    cr_assert_eq(c[0], 128);
    png_colormap(PNG_GREY, 10, -1, 3, c);  // clamped
    cr_assert_eq(c[0], 255);
    png_colormap(PNG_DIVERGING, 0, -2, 2, c);
    cr_assert(c[0] == 255 && c[1] == 255 && c[2] == 255, "0 is white");
    png_colormap(PNG_DIVERGING, -2, -2, 2, c);
    cr_assert(c[0] == 33 && c[1] == 102 && c[2] == 172, "min is blue");
    png_colormap(PNG_DIVERGING, 5, -2, 2, c);
    cr_assert(c[0] == 178 && c[1] == 24 && c[2] == 43, "max (clamped) is red");
    png_colormap(PNG_DIVERGING, 1, -2, 2, c);  // halfway to red: 255 + 0.5·(178-255) = 216.5
    cr_assert(c[0] == 216 && c[1] == 140 && c[2] == 149, "%d %d %d", c[0], c[1], c[2]);
    png_colormap(PNG_DIVERGING, NAN, -2, 2, c);
    cr_assert_eq(c[1], 255, "NaN drawn as 0");
}

Test(png, float_image_auto_range_and_scale) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/f.png", dir);
    float img[6] = {2, 4, 6, 8, 10, 3};  // 2 rows, 3 cols
    PngStyle st = {.cmap = PNG_GREY, .scale = 3};
    cr_assert_eq(png_write_float(path, img, 2, 3, &st), 0, "%s", err_msg());
    TestPng d = decode_file(path);
    cr_assert(d.w == 9 && d.h == 6 && d.channels == 1);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 9; x++) {
            float v = img[(y / 3) * 3 + x / 3];
            int want = (int)lrintf(255.0f * (v - 2) / 8);
            cr_assert_eq(d.pix[y * 9 + x], want, "pixel (%d,%d)", y, x);
        }
    free(d.pix);
    // explicit range, diverging: RGB; 0 is white whatever else is in the image
    float sgn[2] = {0, 1};
    PngStyle dv = {.cmap = PNG_DIVERGING, .lo = -1, .hi = 1};
    cr_assert_eq(png_write_float(path, sgn, 1, 2, &dv), 0, "%s", err_msg());
    d = decode_file(path);
    cr_assert(d.channels == 3 && d.w == 2 && d.h == 1);
    cr_assert(d.pix[0] == 255 && d.pix[1] == 255 && d.pix[2] == 255);
    cr_assert(d.pix[3] == 178 && d.pix[4] == 24 && d.pix[5] == 43);
    free(d.pix);
    rm_tree(dir);
}

Test(png, overlay_blends_by_attribution_magnitude) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/o.png", dir);
    float base[4] = {0, 1, 0.5f, 1};
    float heat[4] = {0, 0, -2, 2};  // none, none, full blue, full red
    cr_assert_eq(png_write_overlay(path, base, heat, 2, 2, 1.0f, 1), 0, "%s", err_msg());
    TestPng d = decode_file(path);
    cr_assert(d.channels == 3 && d.w == 2 && d.h == 2);
    const uint8_t want[12] = {0, 0, 0, 255, 255, 255, 33, 102, 172, 178, 24, 43};
    for (int i = 0; i < 12; i++) cr_assert_eq(d.pix[i], want[i], "byte %d", i);
    free(d.pix);
    // alpha 0.5 at full attribution: halfway between the grey and the colour
    cr_assert_eq(png_write_overlay(path, base, heat, 2, 2, 0.5f, 1), 0, "%s", err_msg());
    d = decode_file(path);
    cr_assert_eq(d.pix[9], (int)lrintf(0.5f * 255 + 0.5f * 178));  // base 1 → 255, red 178
    cr_assert_eq(d.pix[6], (int)lrintf(0.5f * 128 + 0.5f * 33));   // base 0.5 → 128, blue 33
    free(d.pix);
    cr_assert_eq(png_write_overlay(path, base, heat, 2, 2, 1.5f, 1), -1);
    rm_tree(dir);
}

Test(png, grid_layout_and_per_tile_normalisation) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/g.png", dir);
    enum { N = 5, TH = 2, TW = 3 };
    float tiles[N * TH * TW];
    for (int t = 0; t < N; t++)
        for (int i = 0; i < TH * TW; i++) tiles[t * TH * TW + i] = (float)(t * 100 + i);
    PngStyle st = {.cmap = PNG_GREY, .scale = 2};
    cr_assert_eq(png_write_grid(path, tiles, N, TH, TW, 0, &st, 1), 0, "%s", err_msg());
    TestPng d = decode_file(path);
    // cols = 3 (3² >= 5), rows = 2: (3·4 + 1)·2 wide, (2·3 + 1)·2 high
    cr_assert(d.w == 26 && d.h == 14 && d.channels == 1, "%dx%d", d.w, d.h);
    for (int y = 0; y < d.h; y++)
        for (int x = 0; x < d.w; x++) {
            int sx = x / 2, sy = y / 2;  // canvas pixel
            int in_tile = sx % (TW + 1) != 0 && sy % (TH + 1) != 0;
            int t = (sy / (TH + 1)) * 3 + sx / (TW + 1);
            int want;
            if (!in_tile || t >= N) {
                want = 96;
            } else {
                int i = (sy % (TH + 1) - 1) * TW + (sx % (TW + 1) - 1);
                want = (int)lrintf(255.0f * (float)i / 5.0f);  // per tile: i in 0..5
            }
            cr_assert_eq(d.pix[y * d.w + x], want, "pixel (%d,%d)", y, x);
        }
    free(d.pix);
    // one range for all tiles: tile 0's values (0..5 of 0..405) are near black
    st.scale = 1;
    cr_assert_eq(png_write_grid(path, tiles, N, TH, TW, 5, &st, 0), 0, "%s", err_msg());
    d = decode_file(path);
    cr_assert(d.w == 21 && d.h == 4);
    cr_assert_eq(d.pix[1 * 21 + 1], 0);
    cr_assert_eq(d.pix[2 * 21 + 3], (int)lrintf(255.0f * 5 / 405));
    cr_assert_eq(d.pix[2 * 21 + 19], 255, "last tile's last pixel is the global max");
    free(d.pix);
    cr_assert_eq(png_write_grid(path, tiles, 0, TH, TW, 0, &st, 0), -1);
    rm_tree(dir);
}
