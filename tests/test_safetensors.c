// safetensors: a file built by Python per the spec (json + struct, no safetensors library),
// our writer's bytes checked against the spec by hand, round trips of every dtype, and one test
// per hostile file with the message fragment it must produce.
#include <stdint.h>
#include <string.h>

#include "helpers.h"
#include "model/err.h"
#include "train/safetensors.h"

TestSuite(safetensors);

#define REF "tests/ref/fmt_py.safetensors"

Test(safetensors, reads_file_written_by_python_per_spec) {
    StFile f;
    cr_assert_eq(st_open(&f, REF), 0, "%s", err_msg());
    // Header order is kept (b, a, h, s, e), __metadata__ is not a tensor.
    cr_assert_eq(f.n, 5);
    const char *order[5] = {"b", "a", "h", "s", "e"};
    for (int i = 0; i < 5; i++) cr_assert_str_eq(f.tensors[i].name, order[i]);
    cr_assert_eq(f.nmeta, 3);
    cr_assert_str_eq(st_meta(&f, "format"), "pt");
    cr_assert_str_eq(st_meta(&f, "step"), "7");
    // "\u03bc\u2211 \u2603 \ud83d\ude00" in the JSON: mu, n-ary sum, snowman, grinning face
    cr_assert_str_eq(st_meta(&f, "uni"), "\xce\xbc\xe2\x88\x91 \xe2\x98\x83 \xf0\x9f\x98\x80");
    cr_assert_null(st_meta(&f, "nope"));

    const StTensor *a = st_find(&f, "a");
    cr_assert(a && a->dtype == ST_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3);
    cr_assert(a->begin == 32 && a->end == 56);
    float av[6];
    int sh[2] = {2, 3};
    cr_assert_eq(st_copy_f32(&f, "a", av, 2, sh), 0, "%s", err_msg());
    const float want_a[6] = {0.5f, -1.0f, 2.0f, 1e-3f, 3.5f, -4.25f};
    for (int i = 0; i < 6; i++) cr_assert_eq(av[i], want_a[i], "a[%d]", i);

    const StTensor *b = st_find(&f, "b");
    cr_assert(b && b->dtype == ST_I64 && b->ndim == 1 && b->shape[0] == 4);
    int64_t bv[4];
    memcpy(bv, b->data, sizeof bv);  // unaligned on purpose: the header is 409 bytes
    const int64_t want_b[4] = {1, -2, 3, -1099511627776LL};
    for (int i = 0; i < 4; i++) cr_assert_eq(bv[i], want_b[i], "b[%d]", i);

    const StTensor *h = st_find(&f, "h");
    cr_assert(h && h->dtype == ST_F16 && h->end - h->begin == 6);
    const unsigned char *hb = h->data;  // binary16 1.0, -2.0, 0.5 little-endian
    const unsigned char want_h[6] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38};
    cr_assert_eq(memcmp(hb, want_h, 6), 0);

    const StTensor *s = st_find(&f, "s");
    cr_assert(s && s->dtype == ST_F64 && s->ndim == 0 && s->end - s->begin == 8);
    double sv;
    memcpy(&sv, s->data, 8);
    cr_assert_eq(sv, 3.141592653589793);

    const StTensor *e = st_find(&f, "e");
    cr_assert(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 4 && e->begin == e->end);
    cr_assert_null(st_find(&f, "__metadata__"));
    st_close(&f);
    st_close(&f);  // twice is fine
    StFile z = {0};
    st_close(&z);
}

Test(safetensors, copy_f32_checks_name_dtype_and_shape) {
    StFile f;
    cr_assert_eq(st_open(&f, REF), 0, "%s", err_msg());
    float buf[8];
    int sh[2] = {3, 2};
    cr_assert_eq(st_copy_f32(&f, "a", buf, 2, sh), -1);
    cr_assert_str_eq(err_msg(), REF ": tensor 'a' has shape [2,3], expected [3,2]");
    int sh3[3] = {2, 3, 1};
    cr_assert_eq(st_copy_f32(&f, "a", buf, 3, sh3), -1);
    cr_assert_str_eq(err_msg(), REF ": tensor 'a' has shape [2,3], expected [2,3,1]");
    int sh1[1] = {3};
    cr_assert_eq(st_copy_f32(&f, "h", buf, 1, sh1), -1);
    cr_assert_str_eq(err_msg(), REF ": tensor 'h' has dtype F16, expected F32");
    cr_assert_eq(st_copy_f32(&f, "blocks.0.attn.W_Q", buf, 1, sh1), -1);
    cr_assert_str_eq(err_msg(), REF ": tensor 'blocks.0.attn.W_Q' not found");
    int she[2] = {0, 4};
    cr_assert_eq(st_copy_f32(&f, "e", buf, 2, she), 0, "empty tensor copies nothing");
    st_close(&f);
}

Test(safetensors, writer_bytes_follow_the_spec) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    const float w[6] = {1, 2, 3, 4, 5, -0.5f};
    const int64_t bvals[2] = {-1, 1LL << 40};
    const int64_t wsh[2] = {2, 3}, bsh[1] = {2};
    StWriteTensor t[2] = {{"w", ST_F32, 2, wsh, w}, {"b", ST_I64, 1, bsh, bvals}};
    const char *mk[1] = {"step"}, *mv[1] = {"3"};
    cr_assert_eq(st_save(path, t, 2, mk, mv, 1), 0, "%s", err_msg());

    size_t len;
    unsigned char *raw = (unsigned char *)read_text(path);
    cr_assert_not_null(raw);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    len = (size_t)ftell(fp);
    fclose(fp);
    // Written out by hand from the spec: metadata first, tensors in the given order, offsets
    // consecutive from 0, then spaces up to a multiple of 8.
    const char *json = "{\"__metadata__\":{\"step\":\"3\"},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}}";
    size_t jl = strlen(json), n = (jl + 7) / 8 * 8;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    cr_assert_eq(hlen, n, "header length %llu, expected %zu", (unsigned long long)hlen, n);
    cr_assert_eq(hlen % 8, 0u, "data must start 8-byte aligned");
    cr_assert_eq(memcmp(raw + 8, json, jl), 0, "header text: %.*s", (int)hlen, raw + 8);
    for (size_t i = jl; i < n; i++) cr_assert_eq(raw[8 + i], ' ', "padding byte %zu", i);
    cr_assert_eq(len, 8 + n + 40);
    // data, little-endian: 1.0f = 00 00 80 3f, -0.5f = 00 00 00 bf, -1 = ff..ff, 2^40
    const unsigned char *d = raw + 8 + n;
    const unsigned char one[4] = {0, 0, 0x80, 0x3f}, mhalf[4] = {0, 0, 0, 0xbf};
    cr_assert_eq(memcmp(d, one, 4), 0);
    cr_assert_eq(memcmp(d + 20, mhalf, 4), 0);
    for (int i = 0; i < 8; i++) cr_assert_eq(d[24 + i], 0xff);
    const unsigned char p40[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    cr_assert_eq(memcmp(d + 32, p40, 8), 0);
    free(raw);
    rm_tree(dir);
}

Test(safetensors, round_trip_every_dtype_and_odd_shapes) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    static const StDtype dts[10] = {ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64,
                                    ST_I32, ST_I16, ST_I8,  ST_U8,   ST_BOOL};
    static const size_t sizes[10] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};
    unsigned char data[10][3 * 5 * 8];
    int64_t shape[3] = {3, 1, 5};
    StWriteTensor t[13];
    char names[10][32];
    for (int k = 0; k < 10; k++) {
        for (size_t i = 0; i < sizeof data[k]; i++) data[k][i] = (unsigned char)(k * 31 + i * 7);
        snprintf(names[k], sizeof names[k], "t.%s \"q\"", st_dtype_name(dts[k]));
        t[k] = (StWriteTensor){names[k], dts[k], 3, shape, data[k]};
        cr_assert_eq(st_dtype_size(dts[k]), sizes[k]);
    }
    float scalar = 7.25f;
    int64_t zero_shape[2] = {4, 0};
    int64_t big_shape[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    float two[2] = {-1, 1};
    t[10] = (StWriteTensor){"scalar", ST_F32, 0, NULL, &scalar};
    t[11] = (StWriteTensor){"empty", ST_F32, 2, zero_shape, NULL};
    t[12] = (StWriteTensor){"caf\xc3\xa9.8d", ST_F32, 8, big_shape, two};
    cr_assert_eq(st_save(path, t, 13, NULL, NULL, 0), 0, "%s", err_msg());
    StFile f;
    cr_assert_eq(st_open(&f, path), 0, "%s", err_msg());
    cr_assert_eq(f.n, 13);
    cr_assert_eq(f.nmeta, 0);
    for (int k = 0; k < 10; k++) {
        const StTensor *r = st_find(&f, names[k]);
        cr_assert_not_null(r, "%s", names[k]);
        cr_assert_eq(r->dtype, dts[k]);
        cr_assert(r->ndim == 3 && r->shape[0] == 3 && r->shape[1] == 1 && r->shape[2] == 5);
        cr_assert_eq(r->end - r->begin, 15 * sizes[k]);
        cr_assert_eq(memcmp(r->data, data[k], 15 * sizes[k]), 0, "%s", names[k]);
        cr_assert_str_eq(st_dtype_name(dts[k]), st_dtype_name(r->dtype));
    }
    float back;
    cr_assert_eq(st_copy_f32(&f, "scalar", &back, 0, NULL), 0, "%s", err_msg());
    cr_assert_eq(back, 7.25f);
    const StTensor *e = st_find(&f, "empty");
    cr_assert(e && e->begin == e->end);
    float two_back[2];
    int bs[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    cr_assert_eq(st_copy_f32(&f, "caf\xc3\xa9.8d", two_back, 8, bs), 0, "%s", err_msg());
    cr_assert(two_back[0] == -1 && two_back[1] == 1);
    // every tensor 8-byte aligned in the file when each size is a multiple of 8 is not
    // promised, but the data block itself starts aligned:
    cr_assert_eq((size_t)((const char *)f.tensors[0].data - f.buf) % 8, 0u);
    st_close(&f);
    rm_tree(dir);
}

Test(safetensors, writer_rejects_bad_tables_and_leaves_no_file) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    float v[4] = {0};
    int64_t sh[1] = {4}, neg[1] = {-1};
    StWriteTensor dup[2] = {{"a", ST_F32, 1, sh, v}, {"a", ST_F32, 1, sh, v}};
    cr_assert_eq(st_save(path, dup, 2, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), path) && strstr(err_msg(), "duplicate tensor name 'a'"), "%s",
              err_msg());
    StWriteTensor res = {"__metadata__", ST_F32, 1, sh, v};
    cr_assert_eq(st_save(path, &res, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "reserved"), "%s", err_msg());
    StWriteTensor ng = {"n", ST_F32, 1, neg, v};
    cr_assert_eq(st_save(path, &ng, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "negative dimension"), "%s", err_msg());
    StWriteTensor nd = {"n", ST_F32, 9, sh, v};
    cr_assert_eq(st_save(path, &nd, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "ndim 9"), "%s", err_msg());
    StWriteTensor nodata = {"n", ST_F32, 1, sh, NULL};
    cr_assert_eq(st_save(path, &nodata, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "no data"), "%s", err_msg());
    StWriteTensor badutf = {"\xff", ST_F32, 1, sh, v};
    cr_assert_eq(st_save(path, &badutf, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "UTF-8"), "%s", err_msg());
    StWriteTensor okt = {"n", ST_F32, 1, sh, v};
    const char *mk[2] = {"k", "k"}, *mv[2] = {"1", "2"};
    cr_assert_eq(st_save(path, &okt, 1, mk, mv, 2), -1);
    cr_assert(strstr(err_msg(), "duplicate metadata key 'k'"), "%s", err_msg());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 0", dir);
    cr_assert_eq(system(cmd), 0, "a file was left behind");
    cr_assert_eq(st_save("/nonexistent-dir/m.safetensors", &okt, 1, NULL, NULL, 0), -1);
    cr_assert(strstr(err_msg(), "/nonexistent-dir/m.safetensors"), "%s", err_msg());
    rm_tree(dir);
}

Test(safetensors, open_missing_file_names_it) {
    StFile f;
    cr_assert_eq(st_open(&f, "/nonexistent/x.safetensors"), -1);
    cr_assert(strstr(err_msg(), "/nonexistent/x.safetensors"), "%s", err_msg());
    cr_assert_null(f.tensors);
    st_close(&f);
}

// ---- hostile files ---------------------------------------------------------------------------

#define EVIL "evil.safetensors"

// Builds [u64 len(json)][json][buflen zero bytes] and parses it; it must fail with a message
// that names the file and contains frag.
static void hostile_hdr(uint64_t hlen, const char *json, size_t buflen, const char *frag) {
    size_t jl = strlen(json), len = 8 + jl + buflen;
    unsigned char *b = calloc(len, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, json, jl);
    StFile f;
    err_clear();
    int rc = st_parse(&f, b, len, EVIL);
    free(b);
    cr_assert_eq(rc, -1, "accepted: %s", json);
    cr_assert_null(f.tensors, "failed parse left state behind");
    cr_assert_null(f.buf);
    cr_assert_eq(strncmp(err_msg(), EVIL ": ", strlen(EVIL) + 2), 0, "no file name: %s",
                 err_msg());
    cr_assert(strstr(err_msg(), frag), "message '%s' lacks '%s'", err_msg(), frag);
    st_close(&f);
}
static void hostile(const char *json, size_t buflen, const char *frag) {
    hostile_hdr(strlen(json), json, buflen, frag);
}

#define T24(extra) "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}" extra "}"

Test(safetensors, control_valid_header_parses) {
    // The builder used by the hostile tests makes good files when the content is good.
    const char *json = T24(",\"__metadata__\":{\"a\":\"b\"}");
    size_t jl = strlen(json), len = 8 + jl + 24;
    unsigned char *b = calloc(len, 1);
    b[0] = (unsigned char)jl;
    memcpy(b + 8, json, jl);
    StFile f;
    cr_assert_eq(st_parse(&f, b, len, EVIL), 0, "%s", err_msg());
    free(b);  // st_parse copied the bytes
    cr_assert_eq(f.n, 1);
    float w[6];
    int sh[2] = {2, 3};
    cr_assert_eq(st_copy_f32(&f, "w", w, 2, sh), 0);
    cr_assert_str_eq(st_meta(&f, "a"), "b");
    st_close(&f);
}

Test(safetensors, hostile_empty_file) {
    StFile f;
    cr_assert_eq(st_parse(&f, "", 0, EVIL), -1);
    cr_assert(strstr(err_msg(), EVIL ": file is 0 bytes, too short"), "%s", err_msg());
}

Test(safetensors, hostile_truncated_length_field) {
    StFile f;
    cr_assert_eq(st_parse(&f, "\x10\0\0\0\0", 5, EVIL), -1);
    cr_assert(strstr(err_msg(), "file is 5 bytes, too short"), "%s", err_msg());
}

Test(safetensors, hostile_huge_header_length) {
    hostile_hdr(1ULL << 63, "{}", 0, "header length 9223372036854775808 exceeds");
    hostile_hdr(UINT64_MAX, "{}", 0, "exceeds the 16000000-byte limit");
    hostile_hdr(16000001, "{}", 0, "exceeds the 16000000-byte limit");
}

Test(safetensors, hostile_header_length_past_eof) {
    hostile_hdr(100, "{}", 20, "header length 100 runs past the end of the file (30 bytes)");
    hostile_hdr(3, "{}", 0, "runs past the end of the file");
}

Test(safetensors, hostile_truncated_data) {
    // header claims 24 bytes of data, only 20 are there
    hostile(T24(""), 20, "data_offsets [0, 24) run past the data buffer (20 bytes)");
}

Test(safetensors, hostile_not_json) {
    hostile("hello world!", 0, EVIL ": header: JSON byte 0: unexpected character");
    hostile("{\"w\":", 0, "header: JSON byte 5: unexpected end");
    hostile_hdr(0, "", 0, "header: JSON byte 0: unexpected end");
    hostile("{\"\xff\":1}", 0, "invalid UTF-8");
    hostile_hdr(4, "{}", 2, "JSON byte 2: trailing characters");  // "{}\0\0"
    hostile_hdr(4, "{}\x01\x01", 0, "trailing characters");
}

Test(safetensors, hostile_json_not_an_object) {
    hostile("[1,2]", 0, "header is a JSON array, expected an object");
    hostile("\"w\"", 0, "header is a JSON string, expected an object");
    hostile("{\"w\":[1]}", 0, "tensor 'w': entry is array, expected an object");
}

Test(safetensors, hostile_unknown_dtype) {
    hostile("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
            "tensor 'w': unknown or unsupported dtype 'F8_E4M3'");
    hostile("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
            "unknown or unsupported dtype 'f32'");
    hostile("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
            "dtype is number, expected a string");
}

Test(safetensors, hostile_shape_times_dtype_differs_from_range) {
    hostile("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
            "tensor 'w': shape [2,3] of F32 needs 24 bytes, but data_offsets [0, 20) hold 20");
    hostile("{\"w\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
            "shape [] of F64 needs 8 bytes");
}

Test(safetensors, hostile_shape_overflow) {
    hostile("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],"
            "\"data_offsets\":[0,0]}}",
            0, "is too large");
    hostile("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
            0, "is too large");  // 2^62 * 4 bytes overflows u64
    hostile("{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]}}",
            0, "shape[0]: JSON byte");
}

Test(safetensors, hostile_offsets_out_of_range) {
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}", 12,
            "data_offsets [8, 16) run past the data buffer (12 bytes)");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
            "data_offsets: JSON byte");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.0]}}", 1,
            "fraction or exponent");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
            "data_offsets must be an array of two integers");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}}",
            1, "run past the data buffer");
}

Test(safetensors, hostile_begin_after_end) {
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 4,
            "tensor 'w': data_offsets [4, 2) begin after end");
}

Test(safetensors, hostile_overlapping_tensors) {
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
            12, "tensor 'b' data range [4, 12) overlaps 'a' [0, 8)");
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
            8, "overlaps");
    // an empty tensor inside another one
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
            "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
            8, "tensor 'z' data range [4, 4) overlaps 'a'");
}

Test(safetensors, hostile_hole_in_buffer) {
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
            12, "hole in the data buffer: bytes [4, 8) belong to no tensor (next is 'b')");
    hostile(T24(""), 32, "hole in the data buffer: bytes [24, 32) at the end");
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
            "bytes [0, 4) belong to no tensor");
    hostile("{}", 8, "bytes [0, 8) at the end belong to no tensor");
}

Test(safetensors, hostile_duplicate_names) {
    hostile("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
            8, "duplicate key 'a'");
    hostile("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key '__metadata__'");
}

Test(safetensors, hostile_negative_shape) {
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]}}", 4,
            "tensor 'w': shape[0]: JSON byte 28: integer -4 out of range");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4,
            "shape[0]");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]}}", 4,
            "expected an integer, got string");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
            "shape is number, expected an array");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            "shape has 9 dims, at most 8");
}

Test(safetensors, hostile_non_string_metadata) {
    hostile("{\"__metadata__\":{\"step\":7}}", 0,
            "__metadata__ value for 'step' is number, expected a string");
    hostile("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "is object, expected a string");
    hostile("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is array, expected an object");
}

Test(safetensors, hostile_missing_and_unknown_fields) {
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "tensor 'w': missing 'data_offsets'");
    hostile("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "missing 'dtype'");
    hostile("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1,
            "tensor 'w': unknown field 'x'");
}

Test(safetensors, hostile_names_are_escaped_in_messages) {
    hostile("{\"\\u001b[31m\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
            "tensor '\\x1b[31m'");
}

Test(safetensors, hostile_file_on_disk_names_the_path) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite("\x02\0\0\0\0\0\0\0[]", 1, 10, f);
    fclose(f);
    StFile sf;
    cr_assert_eq(st_open(&sf, path), -1);
    char want[200];
    snprintf(want, sizeof want, "%s: header is a JSON array, expected an object", path);
    cr_assert_str_eq(err_msg(), want);
    st_close(&sf);
    rm_tree(dir);
}
