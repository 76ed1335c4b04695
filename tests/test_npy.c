// .npy: files written by numpy (values spelled out from tests/ref/make_format_refs.txt), our
// writers byte-identical to numpy.save, the streaming writer, and one test per hostile file.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "datasets/npy.h"
#include "helpers.h"
#include "model/err.h"

TestSuite(npy);

#define REF(name) "tests/ref/" name

static NpyArray load_ok(const char *path) {
    NpyArray a;
    cr_assert_eq(npy_load(&a, path), 0, "%s", err_msg());
    return a;
}

static void check_shape(const NpyArray *a, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    const int64_t want[3] = {d0, d1, d2};
    cr_assert_eq(a->ndim, ndim);
    for (int i = 0; i < ndim; i++) cr_assert_eq(a->shape[i], want[i], "dim %d", i);
}

Test(npy, numpy_f4_c_order) {
    NpyArray a = load_ok(REF("fmt_f4_c.npy"));
    cr_assert_eq(a.dtype, NPY_F32);
    check_shape(&a, 2, 2, 3, 0);
    cr_assert_eq(a.numel, 6u);
    const float want[6] = {1.5f, -2.25f, 3.0f, 0.1f, 1e-30f, -7.75f};
    cr_assert_eq(memcmp(a.data, want, sizeof want), 0);
    npy_free(&a);
    npy_free(&a);
}

Test(npy, numpy_f8_and_i8) {
    NpyArray a = load_ok(REF("fmt_f8.npy"));
    cr_assert_eq(a.dtype, NPY_F64);
    check_shape(&a, 1, 4, 0, 0);
    const double *d = a.data;
    cr_assert(d[0] == 3.141592653589793 && d[1] == -1e300 && d[2] == 4.9406564584124654e-324 &&
              d[3] == 0.1);
    npy_free(&a);
    a = load_ok(REF("fmt_i8.npy"));
    cr_assert_eq(a.dtype, NPY_I64);
    const int64_t want[5] = {INT64_MIN, INT64_MAX, 0, -1, 123456789012LL};
    cr_assert_eq(memcmp(a.data, want, sizeof want), 0);
    npy_free(&a);
}

Test(npy, numpy_big_endian_is_swapped) {
    NpyArray a = load_ok(REF("fmt_f4_be.npy"));
    cr_assert_eq(a.dtype, NPY_F32);
    check_shape(&a, 2, 2, 2, 0);
    const float want[4] = {1.0f, -2.5f, 3.25f, 1e10f};
    cr_assert_eq(memcmp(a.data, want, sizeof want), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_i8_be.npy"));
    const int64_t wi[3] = {1, -2, 1099511627776LL};
    cr_assert_eq(memcmp(a.data, wi, sizeof wi), 0);
    npy_free(&a);
}

Test(npy, numpy_fortran_order_is_transposed) {
    NpyArray a = load_ok(REF("fmt_fortran_2d.npy"));
    check_shape(&a, 2, 3, 4, 0);
    const float *f = a.data;
    for (int i = 0; i < 12; i++) cr_assert_eq(f[i], (float)i, "C index %d", i);
    npy_free(&a);
    a = load_ok(REF("fmt_fortran_3d_i4.npy"));
    cr_assert_eq(a.dtype, NPY_I32);
    check_shape(&a, 3, 2, 3, 4);
    const int32_t *v = a.data;
    for (int i = 0; i < 24; i++) cr_assert_eq(v[i], i * 10 - 5, "C index %d", i);
    npy_free(&a);
}

Test(npy, numpy_bool_scalar_empty) {
    NpyArray a = load_ok(REF("fmt_bool.npy"));
    cr_assert_eq(a.dtype, NPY_BOOL);
    const uint8_t want[6] = {1, 0, 1, 0, 0, 1};
    cr_assert_eq(memcmp(a.data, want, 6), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_scalar.npy"));
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(a.numel, 1u);
    cr_assert_eq(*(float *)a.data, 2.5f);
    npy_free(&a);
    a = load_ok(REF("fmt_empty.npy"));
    check_shape(&a, 2, 0, 3, 0);
    cr_assert_eq(a.numel, 0u);
    cr_assert_not_null(a.data);
    npy_free(&a);
}

Test(npy, numpy_versions_2_and_3) {
    NpyArray a = load_ok(REF("fmt_v2_i2.npy"));
    cr_assert_eq(a.dtype, NPY_I16);
    check_shape(&a, 2, 3, 2, 0);
    const int16_t w2[6] = {-3, -2, -1, 0, 1, 2};
    cr_assert_eq(memcmp(a.data, w2, sizeof w2), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_v3_u2.npy"));
    cr_assert_eq(a.dtype, NPY_U16);
    const uint16_t w3[3] = {0, 1, 65535};
    cr_assert_eq(memcmp(a.data, w3, sizeof w3), 0);
    npy_free(&a);
}

Test(npy, numpy_small_integer_and_half_types) {
    NpyArray a = load_ok(REF("fmt_u1.npy"));
    cr_assert_eq(a.dtype, NPY_U8);
    cr_assert_eq(memcmp(a.data, "\x00\xff\x07", 3), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_i1.npy"));
    cr_assert_eq(a.dtype, NPY_I8);
    const int8_t wi1[3] = {-128, 127, 0};
    cr_assert_eq(memcmp(a.data, wi1, 3), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_u4.npy"));
    const uint32_t wu4[2] = {4294967295u, 0};
    cr_assert_eq(memcmp(a.data, wu4, 8), 0);
    npy_free(&a);
    a = load_ok(REF("fmt_u8.npy"));
    const uint64_t wu8[2] = {UINT64_MAX, 5};
    cr_assert_eq(memcmp(a.data, wu8, 16), 0);
    float f[2];
    cr_assert_eq(npy_to_f32(&a, f), 0);
    cr_assert(f[0] == 18446744073709551616.0f && f[1] == 5.0f);
    int64_t i[2];
    cr_assert_eq(npy_to_i64(&a, i), -1, "2^64-1 does not fit in int64");
    cr_assert(strstr(err_msg(), "18446744073709551615 at index 0"), "%s", err_msg());
    npy_free(&a);
    // binary16: 1, -0.5, 65504 (max), 2^-24 (smallest subnormal), inf
    float h[5];
    cr_assert_eq(npy_load(&a, REF("fmt_f2.npy")), 0, "%s", err_msg());
    cr_assert_eq(a.dtype, NPY_F16);
    cr_assert_eq(npy_to_f32(&a, h), 0);
    cr_assert(h[0] == 1.0f && h[1] == -0.5f && h[2] == 65504.0f && h[3] == ldexpf(1, -24) &&
              isinf(h[4]) && h[4] > 0, "%g %g %g %g %g", h[0], h[1], h[2], h[3], h[4]);
    npy_free(&a);
}

Test(npy, load_converters) {
    float *f;
    int64_t *v, shape[NPY_MAX_DIMS];
    int nd;
    cr_assert_eq(npy_load_f32(REF("fmt_v2_i2.npy"), &f, &nd, shape), 0, "%s", err_msg());
    cr_assert(nd == 2 && shape[0] == 3 && shape[1] == 2);
    const float wf[6] = {-3, -2, -1, 0, 1, 2};
    cr_assert_eq(memcmp(f, wf, sizeof wf), 0);
    free(f);
    cr_assert_eq(npy_load_f32(REF("fmt_bool.npy"), &f, &nd, shape), 0);
    cr_assert(f[0] == 1 && f[1] == 0);
    free(f);
    cr_assert_eq(npy_load_f32(REF("fmt_f8.npy"), &f, &nd, shape), 0);
    cr_assert(f[0] == (float)3.141592653589793 && isinf(f[1]) && f[1] < 0);
    free(f);
    cr_assert_eq(npy_load_i64(REF("fmt_fortran_3d_i4.npy"), &v, &nd, shape), 0, "%s", err_msg());
    cr_assert(nd == 3 && shape[2] == 4 && v[0] == -5 && v[23] == 225);
    free(v);
    cr_assert_eq(npy_load_i64(REF("fmt_u1.npy"), &v, &nd, shape), 0);
    cr_assert(v[1] == 255);
    free(v);
    cr_assert_eq(npy_load_i64(REF("fmt_f4_c.npy"), &v, &nd, shape), -1);
    cr_assert_null(v);
    cr_assert(strstr(err_msg(), REF("fmt_f4_c.npy") ": dtype f4") &&
              strstr(err_msg(), "expected integer tokens"), "%s", err_msg());
    cr_assert_eq(npy_load_i64(REF("fmt_bool.npy"), &v, &nd, shape), -1);
    cr_assert(strstr(err_msg(), "expected integer tokens"), "%s", err_msg());
    cr_assert_eq(npy_load_f32("/nonexistent/a.npy", &f, &nd, shape), -1);
    cr_assert(strstr(err_msg(), "/nonexistent/a.npy"), "%s", err_msg());
}

// Our writers must produce exactly numpy.save's bytes for the same array.
static void same_bytes(const char *ours, const char *ref) {
    FILE *a = fopen(ours, "rb"), *b = fopen(ref, "rb");
    cr_assert(a && b, "cannot open %s or %s", ours, ref);
    unsigned char x[4096], y[4096];
    size_t na = fread(x, 1, sizeof x, a), nb = fread(y, 1, sizeof y, b);
    fclose(a);
    fclose(b);
    cr_assert_eq(na, nb, "%s is %zu bytes, numpy's %zu", ours, na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_eq(x[i], y[i], "byte %zu differs from numpy's: %02x vs %02x (%.*s)", i, x[i],
                     y[i], (int)(na < 128 ? na : 128), (const char *)x);
}

Test(npy, writers_match_numpy_save_byte_for_byte) {
    char dir[64], p[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/f.npy", dir);
    const float f[6] = {-1, -0.5f, 0, 0.5f, 1, 1.5f};
    const int64_t sf[2] = {2, 3};
    cr_assert_eq(npy_save_f32(p, f, 2, sf), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_ours_f32.npy"));
    const int32_t i4[5] = {-3, 0, 2147483647, -2147483647 - 1, 5};
    const int64_t si[1] = {5};
    cr_assert_eq(npy_save_i32(p, i4, 1, si), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_ours_i32.npy"));
    int64_t i8[24];
    for (int i = 0; i < 24; i++) i8[i] = i - 12;
    const int64_t s8[3] = {2, 3, 4};
    cr_assert_eq(npy_save_i64(p, i8, 3, s8), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_ours_i64.npy"));
    const float sc = 2.5f;
    cr_assert_eq(npy_save_f32(p, &sc, 0, NULL), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_scalar.npy"));
    const int64_t se[2] = {0, 3};
    cr_assert_eq(npy_save_f32(p, NULL, 2, se), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_empty.npy"));
    rm_tree(dir);
}

Test(npy, streaming_writer_unknown_rows_matches_numpy) {
    char dir[64], p[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/acts.npy", dir);
    float rows[42];
    for (int i = 0; i < 42; i++) rows[i] = (float)i;
    NpyWriter w;
    int64_t shape[3] = {NPY_ROWS_UNKNOWN, 2, 3};
    cr_assert_eq(npy_writer_begin(&w, p, NPY_F32, 3, shape), 0, "%s", err_msg());
    cr_assert_eq(npy_writer_write(&w, rows, 3), 0);
    cr_assert_eq(npy_writer_write(&w, rows + 18, 0), 0);
    cr_assert_eq(npy_writer_write(&w, rows + 18, 4), 0);
    FILE *exists = fopen(p, "rb");
    cr_assert_null(exists, "the file appears only at commit");
    cr_assert_eq(npy_writer_commit(&w), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_ours_stream.npy"));
    // known row count, written in odd batches
    shape[0] = 7;
    cr_assert_eq(npy_writer_begin(&w, p, NPY_F32, 3, shape), 0, "%s", err_msg());
    for (int r = 0; r < 7; r += 2) cr_assert_eq(npy_writer_write(&w, rows + r * 6, r < 6 ? 2 : 1), 0);
    cr_assert_eq(npy_writer_commit(&w), 0, "%s", err_msg());
    same_bytes(p, REF("fmt_ours_stream.npy"));
    // a big unknown count keeps the header length (numpy's spare digits)
    int64_t s1[1] = {NPY_ROWS_UNKNOWN};
    cr_assert_eq(npy_writer_begin(&w, p, NPY_U8, 1, s1), 0);
    unsigned char zeros[4096] = {0};
    for (int i = 0; i < 300; i++) cr_assert_eq(npy_writer_write(&w, zeros, 4096), 0);
    cr_assert_eq(npy_writer_commit(&w), 0, "%s", err_msg());
    NpyArray a = load_ok(p);
    check_shape(&a, 1, 300 * 4096, 0, 0);
    npy_free(&a);
    rm_tree(dir);
}

Test(npy, streaming_writer_errors_leave_old_file) {
    char dir[64], p[128], cmd[256];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/x.npy", dir);
    const float v[4] = {1, 2, 3, 4};
    const int64_t s[2] = {2, 2};
    cr_assert_eq(npy_save_f32(p, v, 2, s), 0);
    NpyWriter w;
    // too few rows
    cr_assert_eq(npy_writer_begin(&w, p, NPY_F32, 2, s), 0);
    cr_assert_eq(npy_writer_write(&w, v, 1), 0);
    cr_assert_eq(npy_writer_commit(&w), -1);
    cr_assert(strstr(err_msg(), "1 rows written, the shape declared 2"), "%s", err_msg());
    npy_writer_abort(&w);  // harmless after a failure
    // too many rows
    cr_assert_eq(npy_writer_begin(&w, p, NPY_F32, 2, s), 0);
    cr_assert_eq(npy_writer_write(&w, v, 3), -1);
    cr_assert(strstr(err_msg(), "exceed the declared 2"), "%s", err_msg());
    cr_assert_eq(npy_writer_write(&w, v, 1), -1, "writes after a failure fail");
    cr_assert_eq(npy_writer_commit(&w), -1);
    // the caller's own failure
    cr_assert_eq(npy_writer_begin(&w, p, NPY_F32, 2, s), 0);
    cr_assert_eq(npy_writer_write(&w, v, 1), 0);
    npy_writer_abort(&w);
    npy_writer_abort(&w);
    float *back;
    int nd;
    int64_t sh[NPY_MAX_DIMS];
    cr_assert_eq(npy_load_f32(p, &back, &nd, sh), 0);
    cr_assert(back[3] == 4 && nd == 2, "old file intact");
    free(back);
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "temporary files left behind");
    int64_t bad[2] = {-3, 2};
    cr_assert_eq(npy_save_f32(p, v, 2, bad), -1);
    cr_assert(strstr(err_msg(), "negative dimension"), "%s", err_msg());
    cr_assert_eq(npy_save_f32(p, v, 9, s), -1);
    cr_assert_eq(npy_save_f32("/nonexistent/x.npy", v, 2, s), -1);
    cr_assert(strstr(err_msg(), "/nonexistent/x.npy"), "%s", err_msg());
    rm_tree(dir);
}

Test(npy, round_trip_every_dtype) {
    char dir[64], p[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/r.npy", dir);
    for (int d = NPY_BOOL; d <= NPY_F64; d++) {
        unsigned char data[5 * 3 * 8];
        for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 13 + d);
        if (d == NPY_BOOL)
            for (size_t i = 0; i < 15; i++) data[i] &= 1;
        const int64_t s[2] = {5, 3};
        cr_assert_eq(npy_save(p, (NpyDtype)d, 2, s, data), 0, "%s", err_msg());
        NpyArray a = load_ok(p);
        cr_assert_eq(a.dtype, (NpyDtype)d);
        check_shape(&a, 2, 5, 3, 0);
        cr_assert_eq(memcmp(a.data, data, 15 * npy_dtype_size((NpyDtype)d)), 0, "%s",
                     npy_dtype_name((NpyDtype)d));
        npy_free(&a);
    }
    rm_tree(dir);
}

// ---- hostile files ---------------------------------------------------------------------------

// Builds magic + version + length + dict + payload_len bytes of 0x11 and parses it; it must
// fail with a message containing frag.
static void hostile_v(int major, int minor, const char *dict, size_t payload_len,
                      const char *frag) {
    size_t dl = strlen(dict), pre = major == 1 ? 10 : 12;
    size_t len = pre + dl + payload_len;
    unsigned char *b = malloc(len);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = (unsigned char)minor;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(dl >> (8 * i));
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, 0x11, payload_len);
    NpyArray a;
    err_clear();
    int rc = npy_parse(&a, b, len);
    free(b);
    cr_assert_eq(rc, -1, "accepted: %s", dict);
    cr_assert_null(a.data);
    cr_assert(strstr(err_msg(), frag), "dict %s: message '%s' lacks '%s'", dict, err_msg(), frag);
    npy_free(&a);
}
static void hostile(const char *dict, size_t payload_len, const char *frag) {
    hostile_v(1, 0, dict, payload_len, frag);
}
static void good(int major, const char *dict, size_t payload_len, NpyArray *a) {
    size_t dl = strlen(dict), pre = major == 1 ? 10 : 12, len = pre + dl + payload_len;
    unsigned char *b = calloc(len, 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(dl >> (8 * i));
    memcpy(b + pre, dict, dl);
    int rc = npy_parse(a, b, len);
    free(b);
    cr_assert_eq(rc, 0, "rejected %s: %s", dict, err_msg());
}

#define D(descr, shape) "{'descr': '" descr "', 'fortran_order': False, 'shape': " shape ", }"

Test(npy, control_handmade_headers_parse) {
    // The builder makes good files when the content is good, including Python-literal
    // variations numpy accepts: double quotes, no trailing comma, other key order, 'L' ints.
    NpyArray a;
    good(1, D("<f4", "(2, 3)") "   \n", 24, &a);
    check_shape(&a, 2, 2, 3, 0);
    npy_free(&a);
    good(1, "{\"shape\":(4,),\"descr\":\"<i2\",\"fortran_order\":True}", 8, &a);
    check_shape(&a, 1, 4, 0, 0);
    npy_free(&a);
    good(1, D("<i4", "(3L, 2L)"), 24, &a);
    check_shape(&a, 2, 3, 2, 0);
    npy_free(&a);
    good(2, D("|u1", "(1,2,3,)"), 6, &a);
    check_shape(&a, 3, 1, 2, 3);
    npy_free(&a);
}

static void hostile_raw(const void *b, size_t len, const char *frag) {
    NpyArray a;
    err_clear();
    cr_assert_eq(npy_parse(&a, b, len), -1, "accepted %zu raw bytes", len);
    cr_assert_null(a.data);
    cr_assert(strstr(err_msg(), frag), "message '%s' lacks '%s'", err_msg(), frag);
}

Test(npy, hostile_bad_magic) {
    hostile_raw("\x93NUMPX\x01\x00\x02\x00{}", 12, "bad magic");
    hostile_raw("PK\x03\x04", 4, "bad magic");  // a .npz (zip) is not a .npy
    hostile_raw("\x93NUMP", 5, "truncated header");
    hostile_raw("", 0, "empty file");
    hostile_raw("\x93", 1, "truncated header");
}

Test(npy, hostile_unsupported_version) {
    hostile_v(4, 0, D("<f4", "(1,)"), 4, "unsupported .npy version 4.0");
    hostile_v(1, 1, D("<f4", "(1,)"), 4, "unsupported .npy version 1.1");
    hostile_v(0, 0, D("<f4", "(1,)"), 4, "unsupported .npy version 0.0");
}

Test(npy, hostile_truncated_header) {
    // header length field says 118 bytes, only 20 follow
    unsigned char b[30] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
    memcpy(b + 10, "{'descr': '<f4', 'fo", 20);
    hostile_raw(b, 30, "truncated header: header length 118 runs past the end");
    hostile_raw("\x93NUMPY\x01\x00\x10", 9, "truncated header");
    hostile_raw("\x93NUMPY\x02\x00\x10\x00\x00", 11, "truncated header");
    // a v2 header length of 4 GB
    hostile_raw("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14, "runs past the end");
}

Test(npy, hostile_truncated_data) {
    hostile(D("<f4", "(2, 3)"), 23, "data is truncated: 23 bytes, but shape (2, 3) of f4 needs 24");
    hostile(D("<f8", "(1,)"), 0, "data is truncated: 0 bytes, but shape (1,) of f8 needs 8");
    hostile(D("<f4", "()"), 2, "data is truncated");
}

Test(npy, hostile_extra_bytes) {
    hostile(D("<f4", "(2, 3)"), 25, "1 extra bytes after the data");
    hostile(D("<f4", "(0, 3)"), 4, "4 extra bytes");
}

Test(npy, hostile_bad_dict) {
    hostile("", 0, "expected '{'");
    hostile("[1, 2]", 0, "expected '{'");
    hostile("{'descr': '<f4', 'shape': (1,), }", 4, "missing 'fortran_order'");
    hostile("{'descr': '<f4', 'fortran_order': False}", 4, "missing 'shape'");
    hostile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
            "unexpected key 'x'");
    hostile("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
            "'descr' given twice");
    hostile(D("<f4", "(3)"), 12, "is not a tuple");
    hostile(D("<f4", "[3]"), 12, "expected '(' to open the shape tuple");
    hostile(D("<f4", "(3,,)"), 12, "expected an integer in shape");
    hostile(D("<f4", "(3 4)"), 48, "expected ',' or ')' in shape");
    hostile(D("<f4", "(3.0,)"), 12, "expected ',' or ')'");
    hostile(D("<f4", "(03,)"), 12, "leading zero");
    hostile(D("<f4", "(2,"), 8, "expected an integer in shape");
    hostile("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4,
            "fortran_order must be True or False");
    hostile("{'descr': '<f4', 'fortran_order': Truex, 'shape': (1,)}", 4,
            "fortran_order must be True or False");
    hostile("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4, "unsupported dtype");
    hostile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, "expected ',' or '}'");
    hostile("{'descr: '<f4'}", 4, "expected ':'");
    hostile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4,
            "unexpected text after the dict");
    hostile("{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,)}", 4,
            "unsupported character in string");
    hostile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4,
            "structured dtypes");
    hostile("{descr: '<f4'}", 4, "expected a quoted string");
    // Python 2 'L' suffixes are only for v1/v2 files
    hostile_v(3, 0, D("<i4", "(3L,)"), 12, "expected ',' or ')'");
}

Test(npy, hostile_unknown_dtype) {
    hostile(D("<c8", "(1,)"), 8, "unsupported dtype '<c8'");
    hostile(D("<U5", "(1,)"), 20, "unsupported dtype '<U5'");
    hostile(D("|O", "(1,)"), 8, "unsupported dtype '|O'");
    hostile(D("f4", "(1,)"), 4, "unsupported dtype 'f4'");
    hostile(D("|f4", "(1,)"), 4, "has no byte order but items of 4 bytes");
    hostile(D("<f4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "(1,)"), 4, "unsupported dtype");
}

Test(npy, hostile_shape_overflow) {
    hostile(D("<f4", "(4611686018427387904, 4)"), 0, "is too large (size overflows)");
    hostile(D("<f4", "(4611686018427387904,)"), 0, "is too large");
    hostile(D("<f8", "(65536, 65536, 65536, 65536)"), 0, "is too large");
    hostile(D("<f4", "(9223372036854775808,)"), 0, "too large");
    hostile(D("<f4", "(99999999999999999999999,)"), 0, "too large");
    hostile(D("<f4", "(-1,)"), 0, "negative dimension");
    hostile(D("<f4", "(1,1,1,1,1,1,1,1,1)"), 4, "more than 8 dims");
    // a zero dimension makes the array empty, however large the others
    NpyArray a;
    good(1, D("<f4", "(4611686018427387904, 0)"), 0, &a);
    cr_assert_eq(a.numel, 0u);
    npy_free(&a);
}

Test(npy, hostile_file_on_disk_names_the_path) {
    char dir[64], p[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/bad.npy", dir);
    FILE *f = fopen(p, "wb");
    fwrite("\x93NUMPY\x09\x00", 1, 8, f);
    fclose(f);
    NpyArray a;
    cr_assert_eq(npy_load(&a, p), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: unsupported .npy version 9.0 (supported: 1.0, 2.0, 3.0)", p);
    cr_assert_str_eq(err_msg(), want);
    rm_tree(dir);
}
