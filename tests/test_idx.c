// IDX reader and inflate (datasets/idx.c).
//
// Files are written byte by byte by the test (big-endian dims by hand), compressed by the
// system's gzip (an independent deflate: fixed and dynamic Huffman blocks, stored blocks for
// random data, several members) and read back to the exact pixels. Hostile files — bad magic,
// unsupported or unknown type codes, bad ndim, dims vs size one byte off either way, a truncated
// header, dims whose product overflows, a zero dim, image/label count mismatch, files in the
// wrong role, corrupt and truncated gzip — each fail with a message naming the file and the
// problem. The real Fashion-MNIST test split is loaded when Debian's package is installed
// (skipped otherwise): 10000 28×28 images, labels 0..9 with 1000 each.
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/idx.h"
#include "helpers.h"
#include "model/err.h"
#include "model/fileio.h"

TestSuite(idx);

// Writes magic (00 00 type ndim), the dims big-endian, then `ndata` bytes of data.
static void write_idx(const char *path, int type, int ndim, const uint32_t *dims,
                      const uint8_t *data, size_t ndata) {
    size_t n = 4 + 4 * (size_t)ndim + ndata;
    uint8_t *b = malloc(n);
    b[0] = 0;
    b[1] = 0;
    b[2] = (uint8_t)type;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (ndata) memcpy(b + 4 + 4 * ndim, data, ndata);
    cr_assert_eq(fileio_write_all(path, b, n), 0, "%s", err_msg());
    free(b);
}

static int have_gzip(void) { return system("gzip --version >/dev/null 2>&1") == 0; }

// gzip -<level> -c src > dst
static void gzip_file(const char *src, const char *dst, int level) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gzip -%d -c '%s' > '%s'", level, src, dst);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

typedef struct {
    char dir[64];
    char a[256], b[256], c[256];
} Tmp;

static void tmp_init(Tmp *t) {
    make_tmpdir(t->dir, sizeof t->dir);
    snprintf(t->a, sizeof t->a, "%s/a", t->dir);
    snprintf(t->b, sizeof t->b, "%s/b", t->dir);
    snprintf(t->c, sizeof t->c, "%s/c", t->dir);
}

// A parse of `path` that must fail with a message containing the path and `want`.
static void expect_fail(const char *path, const char *want) {
    IdxArray a;
    cr_assert_eq(idx_read(&a, path), -1, "%s: expected a failure (%s)", path, want);
    cr_assert(strstr(err_msg(), path), "message does not name the file: %s", err_msg());
    cr_assert(strstr(err_msg(), want), "message lacks '%s': %s", want, err_msg());
    cr_assert_null(a.buf);
}

Test(idx, roundtrip_images_and_labels) {
    Tmp t;
    tmp_init(&t);
    enum { N = 3, R = 5, C = 4 };
    uint8_t px[N * R * C], lb[N] = {2, 0, 7};
    for (int i = 0; i < N * R * C; i++) px[i] = (uint8_t)(i * 37 % 256);
    px[0] = 255;
    px[1] = 0;
    write_idx(t.a, 0x08, 3, (const uint32_t[]){N, R, C}, px, sizeof px);
    write_idx(t.b, 0x08, 1, (const uint32_t[]){N}, lb, sizeof lb);
    IdxArray a;
    cr_assert_eq(idx_read(&a, t.a), 0, "%s", err_msg());
    cr_assert(a.ndim == 3 && a.dims[0] == N && a.dims[1] == R && a.dims[2] == C && a.dims[3] == 1);
    cr_assert_eq(a.count, (size_t)N * R * C);
    cr_assert(memcmp(a.data, px, sizeof px) == 0);
    idx_free(&a);
    ImageSet s;
    cr_assert_eq(idx_load_pair(&s, t.a, t.b), 0, "%s", err_msg());
    cr_assert(s.n == N && s.C == 1 && s.H == R && s.W == C && s.n_classes == 8);
    cr_assert_null(s.truth);
    cr_assert(s.x[0] == 1.0f && s.x[1] == 0.0f, "255 → 1, 0 → 0");
    for (int i = 0; i < N * R * C; i++) cr_assert_eq(s.x[i], (float)px[i] / 255.0f);
    for (int i = 0; i < N; i++) cr_assert_eq(s.y[i], lb[i]);
    // a minibatch in a chosen order
    float x[2 * R * C];
    int y[2];
    images_batch(&s, (const int[]){2, 0}, 2, x, y);
    cr_assert(y[0] == 7 && y[1] == 2);
    cr_assert(memcmp(x, s.x + 2 * R * C, sizeof(float) * R * C) == 0);
    images_free(&s);
    images_free(&s);  // twice is fine
    rm_tree(t.dir);
}

Test(idx, gzip_levels_random_data_and_members) {
    if (!have_gzip()) cr_skip_test("no gzip program to make the compressed test files");
    Tmp t;
    tmp_init(&t);
    // patterned data (long matches, dynamic Huffman blocks) and a random tail (stored blocks)
    enum { N = 40, R = 30, C = 70 };
    size_t n = (size_t)N * R * C;
    uint8_t *px = malloc(n);
    uint64_t h = 1;
    for (size_t i = 0; i < n; i++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        px[i] = i < n / 2 ? (uint8_t)((i % C) * 3 + (i / 977) % 5) : (uint8_t)(h >> 56);
    }
    write_idx(t.a, 0x08, 3, (const uint32_t[]){N, R, C}, px, n);
    for (int level = 1; level <= 9; level += 8) {
        gzip_file(t.a, t.b, level);
        IdxArray a;
        cr_assert_eq(idx_read(&a, t.b), 0, "gzip -%d: %s", level, err_msg());
        cr_assert(a.ndim == 3 && a.count == n);
        cr_assert(memcmp(a.data, px, n) == 0, "gzip -%d: bytes differ", level);
        idx_free(&a);
    }
    // a tiny file (fixed Huffman codes) split over two gzip members
    uint8_t lb[5] = {1, 2, 3, 4, 5};
    write_idx(t.a, 0x08, 1, (const uint32_t[]){5}, lb, 5);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "head -c 6 '%s' | gzip -c > '%s' && tail -c +7 '%s' | gzip -c >> '%s'", t.a, t.b,
             t.a, t.b);
    cr_assert_eq(system(cmd), 0);
    IdxArray a;
    cr_assert_eq(idx_read(&a, t.b), 0, "two members: %s", err_msg());
    cr_assert(a.count == 5 && memcmp(a.data, lb, 5) == 0);
    idx_free(&a);
    free(px);
    rm_tree(t.dir);
}

Test(idx, corrupt_gzip_is_reported) {
    if (!have_gzip()) cr_skip_test("no gzip program to make the compressed test files");
    Tmp t;
    tmp_init(&t);
    enum { N = 2000 };
    static uint8_t lb[N];
    for (int i = 0; i < N; i++) lb[i] = (uint8_t)(i * i % 10);
    write_idx(t.a, 0x08, 1, (const uint32_t[]){N}, lb, N);
    gzip_file(t.a, t.b, 9);
    char *gz;
    size_t n;
    cr_assert_eq(fileio_read_all(t.b, 1 << 20, &gz, &n), 0);
    // the CRC in the trailer (8 bytes from the end) no longer matches
    gz[n - 8] ^= 1;
    cr_assert_eq(fileio_write_all(t.c, gz, n), 0);
    expect_fail(t.c, "CRC-32 mismatch");
    gz[n - 8] ^= 1;
    // the length in the trailer
    gz[n - 2] ^= 1;
    cr_assert_eq(fileio_write_all(t.c, gz, n), 0);
    expect_fail(t.c, "length mismatch");
    gz[n - 2] ^= 1;
    // cut in the middle of the deflate data
    cr_assert_eq(fileio_write_all(t.c, gz, n / 2), 0);
    expect_fail(t.c, "gzip:");
    // garbage after the member
    char *more = malloc(n + 3);
    memcpy(more, gz, n);
    memcpy(more + n, "xyz", 3);
    cr_assert_eq(fileio_write_all(t.c, more, n + 3), 0);
    expect_fail(t.c, "unexpected bytes after");
    // a bad block type: the first block header's BTYPE bits (1-2 of the first data byte, after
    // the 10-byte header with no optional fields... gzip -c of a file records its name, so
    // make a header without FNAME by hand)
    uint8_t bad[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(fileio_write_all(t.c, bad, sizeof bad), 0);
    expect_fail(t.c, "invalid block type 3");
    free(more);
    free(gz);
    rm_tree(t.dir);
}

// Two inputs the fuzzer found (fuzz_idx): members that inflate to nothing — an empty fixed
// Huffman block, an empty stored block — must give an empty buffer, not touch a NULL one.
Test(idx, empty_gzip_members) {
    const uint8_t fixed[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t stored[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x01, 0x00, 0x00, 0xff, 0xff,
                              0,    0,    0, 0, 0, 0, 0, 0, 0};
    uint8_t *out;
    size_t n;
    cr_assert_eq(idx_gunzip(fixed, sizeof fixed, 100, &out, &n), 0, "%s", err_msg());
    cr_assert_eq(n, 0u);
    free(out);
    cr_assert_eq(idx_gunzip(stored, sizeof stored, 100, &out, &n), 0, "%s", err_msg());
    cr_assert_eq(n, 0u);
    free(out);
    IdxArray a;
    cr_assert_eq(idx_parse(&a, stored, sizeof stored), -1);
    cr_assert(strstr(err_msg(), "file of 0 bytes is too short"), "%s", err_msg());
    // and the output limit holds
    cr_assert_eq(idx_gunzip(fixed, sizeof fixed - 1, 100, &out, &n), -1);
    cr_assert(strstr(err_msg(), "trailer"), "%s", err_msg());
}

Test(idx, hostile_headers) {
    Tmp t;
    tmp_init(&t);
    uint8_t d[64] = {0};
    // not an IDX file at all
    cr_assert_eq(fileio_write_all(t.a, "PK\x03\x04 zip file", 14), 0);
    expect_fail(t.a, "bad magic number 0x504b0304");
    // a known but unsupported type, an unknown one
    write_idx(t.a, 0x0D, 1, (const uint32_t[]){4}, d, 16);
    expect_fail(t.a, "0x0D (float) is not supported");
    write_idx(t.a, 0x42, 1, (const uint32_t[]){4}, d, 4);
    expect_fail(t.a, "unknown IDX data type code 0x42");
    // ndim 0 and 5
    write_idx(t.a, 0x08, 0, NULL, d, 4);
    expect_fail(t.a, "0 dimensions");
    write_idx(t.a, 0x08, 5, (const uint32_t[]){1, 1, 1, 1, 1}, d, 1);
    expect_fail(t.a, "5 dimensions");
    // dims vs size: one byte short, one byte extra
    write_idx(t.a, 0x08, 3, (const uint32_t[]){2, 3, 4}, d, 23);
    expect_fail(t.a, "dimensions 2x3x4 need 24 data bytes, the file has 23 (truncated?)");
    write_idx(t.a, 0x08, 3, (const uint32_t[]){2, 3, 4}, d, 25);
    expect_fail(t.a, "need 24 data bytes, the file has 25 (trailing bytes)");
    // the header itself cut short, and shorter than the magic
    write_idx(t.a, 0x08, 3, (const uint32_t[]){2, 3, 4}, d, 0);
    cr_assert_eq(truncate(t.a, 10), 0);
    expect_fail(t.a, "header of 3 dimensions needs 16 bytes, the file has 10");
    cr_assert_eq(fileio_write_all(t.a, "\0\0", 2), 0);
    expect_fail(t.a, "too short for an IDX header");
    // dims whose product overflows 64 bits, a dim beyond int, a zero dim
    write_idx(t.a, 0x08, 4, (const uint32_t[]){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff},
              d, 8);
    expect_fail(t.a, "need more data bytes than the 8");
    write_idx(t.a, 0x08, 1, (const uint32_t[]){0xffffffffu}, d, 8);
    expect_fail(t.a, "dimension 0 is 4294967295");
    write_idx(t.a, 0x08, 3, (const uint32_t[]){5, 0, 28}, d, 0);
    expect_fail(t.a, "dimension 1 is 0");
    // missing file
    expect_fail("/nonexistent/train-images-idx3-ubyte", "train-images");
    rm_tree(t.dir);
}

Test(idx, pair_mismatches_name_the_file) {
    Tmp t;
    tmp_init(&t);
    uint8_t d[64] = {0};
    write_idx(t.a, 0x08, 3, (const uint32_t[]){3, 2, 2}, d, 12);
    write_idx(t.b, 0x08, 1, (const uint32_t[]){4}, d, 4);
    ImageSet s;
    cr_assert_eq(idx_load_pair(&s, t.a, t.b), -1);
    cr_assert(strstr(err_msg(), t.b) && strstr(err_msg(), "4 labels, but") &&
                  strstr(err_msg(), "has 3 images"),
              "%s", err_msg());
    cr_assert_null(s.x);
    // roles swapped: a label file where images are expected and vice versa
    cr_assert_eq(idx_load_pair(&s, t.b, t.a), -1);
    cr_assert(strstr(err_msg(), t.b) && strstr(err_msg(), "expected an image file"), "%s",
              err_msg());
    write_idx(t.c, 0x08, 3, (const uint32_t[]){3, 2, 2}, d, 12);
    cr_assert_eq(idx_load_pair(&s, t.a, t.c), -1);
    cr_assert(strstr(err_msg(), t.c) && strstr(err_msg(), "expected a label file"), "%s",
              err_msg());
    rm_tree(t.dir);
}

Test(idx, fashion_loader_in_a_given_folder) {
    Tmp t;
    tmp_init(&t);
    ImageSet s;
    // empty folder: the message says how to get the data
    cr_assert_eq(idx_load_fashion_mnist(&s, t.dir, 1), -1);
    cr_assert(strstr(err_msg(), "t10k-images-idx3-ubyte") && strstr(err_msg(), t.dir) &&
                  strstr(err_msg(), "sudo apt-get install dataset-fashion-mnist"),
              "%s", err_msg());
    // uncompressed files of the right shape load
    enum { N = 4 };
    static uint8_t px[N * 28 * 28], lb[N] = {0, 9, 3, 9};
    for (int i = 0; i < N * 28 * 28; i++) px[i] = (uint8_t)i;
    char ip[256], lp[256];
    snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte", t.dir);
    snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte", t.dir);
    write_idx(ip, 0x08, 3, (const uint32_t[]){N, 28, 28}, px, sizeof px);
    write_idx(lp, 0x08, 1, (const uint32_t[]){N}, lb, N);
    cr_assert_eq(idx_load_fashion_mnist(&s, t.dir, 1), 0, "%s", err_msg());
    cr_assert(s.n == N && s.n_classes == 10 && s.y[1] == 9);
    images_free(&s);
    // the train split is still missing
    cr_assert_eq(idx_load_fashion_mnist(&s, t.dir, 0), -1);
    cr_assert(strstr(err_msg(), "train-images-idx3-ubyte"), "%s", err_msg());
    // a label outside 0..9
    lb[2] = 10;
    write_idx(lp, 0x08, 1, (const uint32_t[]){N}, lb, N);
    cr_assert_eq(idx_load_fashion_mnist(&s, t.dir, 1), -1);
    cr_assert(strstr(err_msg(), "label 10 outside"), "%s", err_msg());
    // wrong image size
    write_idx(ip, 0x08, 3, (const uint32_t[]){N, 28, 14}, px, N * 28 * 14);
    lb[2] = 3;
    write_idx(lp, 0x08, 1, (const uint32_t[]){N}, lb, N);
    cr_assert_eq(idx_load_fashion_mnist(&s, t.dir, 1), -1);
    cr_assert(strstr(err_msg(), "28x14"), "%s", err_msg());
    cr_assert_str_eq(idx_fashion_class_name(9), "Ankle boot");
    cr_assert_null(idx_fashion_class_name(10));
    rm_tree(t.dir);
}

Test(idx, real_fashion_mnist_test_split) {
    struct stat st;
    if (stat(IDX_FASHION_DIR "/t10k-images-idx3-ubyte.gz", &st) != 0)
        cr_skip_test("Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist)");
    ImageSet s;
    cr_assert_eq(idx_load_fashion_mnist(&s, NULL, 1), 0, "%s", err_msg());
    cr_assert(s.n == 10000 && s.C == 1 && s.H == 28 && s.W == 28 && s.n_classes == 10);
    int count[10] = {0};
    for (int i = 0; i < s.n; i++) {
        cr_assert(s.y[i] >= 0 && s.y[i] < 10);
        count[s.y[i]]++;
    }
    for (int k = 0; k < 10; k++) cr_assert_eq(count[k], 1000, "class %d has %d", k, count[k]);
    // the first test image is an ankle boot (the TensorFlow classification tutorial's example)
    cr_assert_eq(s.y[0], 9);
    float mn = 1, mx = 0;
    for (size_t i = 0; i < (size_t)s.n * 784; i++) {
        if (s.x[i] < mn) mn = s.x[i];
        if (s.x[i] > mx) mx = s.x[i];
    }
    cr_assert(mn == 0.0f && mx == 1.0f, "pixel range [%g, %g]", (double)mn, (double)mx);
    images_free(&s);
}
