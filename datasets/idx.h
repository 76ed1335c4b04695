// idx.h — the IDX file format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//
// An IDX file is a 4-byte magic number — two zero bytes, a data type code, the number of
// dimensions — then each dimension as a big-endian unsigned 32-bit integer, then the data in
// row-major order. MNIST's images are magic 0x00000803 (type 0x08 unsigned byte, 3 dims
// [N, rows, cols]) and labels 0x00000801 (unsigned byte, 1 dim [N]). This reader accepts type
// 0x08 only (the other IDX types — 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 — are named
// in the error) with 1 to 4 dimensions, each at least 1, and the data length must equal the
// product of the dimensions EXACTLY (no truncation, no trailing bytes).
//
// Files starting with the gzip magic 1f 8b (how the datasets are distributed, *.gz) are
// decompressed in memory by the small inflate (RFC 1951) and gzip member reader (RFC 1952) in
// idx.c: no zlib and no external gzip program is needed. The gzip CRC-32 and length of each
// member are checked, so a corrupt download is reported rather than loaded.
//
// Fashion-MNIST (Xiao et al. 2017): 28×28 greyscale clothing images, 60000 train and 10000
// test, 10 classes. Debian's package dataset-fashion-mnist installs the four original files in
// /usr/share/datasets/fashion-mnist/ as {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz;
// idx_load_fashion_mnist looks there (or in a folder you give it, where the files may also be
// uncompressed).
#ifndef MECHLAB_IDX_H
#define MECHLAB_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "images.h"

#define IDX_MAX_DIMS 4
#define IDX_FASHION_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    int type;                // data type code (0x08)
    int ndim;                // 1..4
    int dims[IDX_MAX_DIMS];  // unused trailing dims are 1
    size_t count;            // product of the dims
    const uint8_t *data;     // count bytes, row-major (points into buf)
    uint8_t *buf;            // the whole (decompressed) file, owned
} IdxArray;

// Parses an IDX file held in memory (gzip-compressed or not). On success *a owns a copy of the
// decompressed bytes (idx_free). Returns 0, or -1 with err_set naming the problem (the caller
// adds the file name). A zeroed IdxArray is left on failure.
int idx_parse(IdxArray *a, const uint8_t *bytes, size_t n);

// Reads and parses a file; errors name the file.
int idx_read(IdxArray *a, const char *path);

void idx_free(IdxArray *a);  // a zeroed or freed array is fine

// Decompresses a gzip file held in memory (one or more members) into a malloc'd buffer of
// *out_len bytes, refusing to produce more than max_out bytes. Returns 0, or -1 with err_set.
int idx_gunzip(const uint8_t *gz, size_t n, size_t max_out, uint8_t **out, size_t *out_len);

// CRC-32 of ISO 3309 / ITU-T V.42, as gzip and PNG use it (reflected polynomial 0xEDB88320,
// initial value and final xor 0xFFFFFFFF). Chain calls by passing the previous result as crc;
// start with crc = 0. idx_crc32(0, "123456789", 9) == 0xCBF43926.
uint32_t idx_crc32(uint32_t crc, const void *data, size_t n);

// An image file [N, rows, cols] and a label file [N] as an ImageSet (C = 1, pixels / 255 in
// [0, 1], n_classes = largest label + 1). Errors name the file at fault: wrong magic or ndim
// for its role, or a label file whose N differs from the image file's.
int idx_load_pair(ImageSet *s, const char *images_path, const char *labels_path);

// Fashion-MNIST's train (test = 0) or test (test = 1) split from `dir` (NULL: IDX_FASHION_DIR),
// as idx_load_pair, checked to be 28×28 with labels in 0..9 (n_classes = 10). In `dir` each file
// may be plain or .gz. When a file is missing, the error names the folder and says how to get
// the data (sudo apt-get install dataset-fashion-mnist, or --data-dir).
int idx_load_fashion_mnist(ImageSet *s, const char *dir, int test);

// Fashion-MNIST's class names, "T-shirt/top" .. "Ankle boot" (NULL outside 0..9).
const char *idx_fashion_class_name(int label);

#endif
