// png.h — the one image writer of mechlab: 8-bit greyscale and RGB PNG files, in pure C.
//
// The encoder writes the simplest valid PNG (ISO/IEC 15948): signature, IHDR (bit depth 8, colour
// type 0 grey or 2 RGB, no interlace), one IDAT holding a zlib stream (RFC 1950) of STORED deflate
// blocks (RFC 1951 §3.2.4, no compression) over the scanlines, each with filter byte 0, and IEND.
// The chunk CRC-32 (idx_crc32) and the zlib Adler-32 are our own code. The images mechlab writes
// are filters, feature visualisations and attributions of a few hundred pixels, so compression
// would save little and cost a second format to get right; any PNG reader opens these files.
//
// On top of the encoder, float images are drawn with a colour map:
//   PNG_GREY       lo → black, hi → white (a 1-channel PNG)
//   PNG_DIVERGING  blue–white–red: -m → blue (33,102,172), 0 → white, +m → red (178,24,43),
//                  linear in between (RGB). For attributions and filters, whose sign matters.
// Range: PngStyle.lo/hi give the values mapped to the ends of the map. When lo == hi (leave both
// 0) the range is automatic: PNG_GREY uses [min, max] of the finite values, PNG_DIVERGING uses
// [-m, m] with m = max |value|, so 0 is always white. A constant image is drawn mid-grey / white.
// Non-finite values are drawn as lo (grey) or as 0 (diverging).
// Scale: every pixel becomes a scale×scale block (nearest neighbour), so a 5×5 filter is visible.
//
// Files go through fileio (temporary name, fsync, rename). Errors name the file.
#ifndef MECHLAB_PNG_H
#define MECHLAB_PNG_H

#include <stddef.h>
#include <stdint.h>

// ---- checksums -------------------------------------------------------------------------------
// The chunk CRC-32 is idx_crc32 (datasets/idx.h: the same CRC as gzip's, one implementation).
// Adler-32 of RFC 1950; start with adler = 1. png_adler32(1, "Wikipedia", 9) == 0x11E60398.
uint32_t png_adler32(uint32_t adler, const void *data, size_t n);

// ---- raw 8-bit images ------------------------------------------------------------------------
// pix holds h rows of w·channels bytes (channels 1: grey, 3: RGB, row-major, top row first).
// png_encode returns a malloc'd PNG file in *out (*out_len bytes); the caller frees it.
// Both return 0, or -1 with err_set (bad size or channels, out of memory, write failure).
int png_encode(uint8_t **out, size_t *out_len, const uint8_t *pix, int w, int h, int channels);
int png_write(const char *path, const uint8_t *pix, int w, int h, int channels);

// ---- float images ----------------------------------------------------------------------------
typedef enum { PNG_GREY = 0, PNG_DIVERGING = 1 } PngColormap;

typedef struct {
    PngColormap cmap;
    float lo, hi;  // values at the ends of the map; lo == hi: automatic (see above)
    int scale;     // integer upscaling factor, nearest neighbour (0 or 1: none; at most 64)
} PngStyle;

// The colour of value v under a colour map and range (lo < hi), as RGB (grey: r = g = b).
void png_colormap(PngColormap cmap, float v, float lo, float hi, uint8_t rgb[3]);

// img[h, w] drawn with the style.
int png_write_float(const char *path, const float *img, int h, int w, const PngStyle *style);

// An attribution drawn over its image: base[h, w] in grey (automatic range), heat[h, w] in the
// diverging map (range ±max|heat|) blended over it with opacity alpha·|heat|/max|heat|, so
// pixels with no attribution show the image unchanged. alpha in [0, 1]. RGB.
int png_write_overlay(const char *path, const float *base, const float *heat, int h, int w,
                      float alpha, int scale);

// A grid of n tiles tiles[n, th, tw] (filters, feature visualisations), `cols` per row (0: the
// smallest cols with cols² >= n), tiles separated (and framed) by a 1-pixel gap of grey 96,
// scaled along with the tiles. per_tile != 0: each tile gets its own automatic range (style
// lo/hi ignored); otherwise one range for all tiles (style lo/hi, or automatic over all tiles).
int png_write_grid(const char *path, const float *tiles, int n, int th, int tw, int cols,
                   const PngStyle *style, int per_tile);

#endif
