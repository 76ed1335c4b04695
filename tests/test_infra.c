// Infrastructure: parameter tables, the text buffer, atomic files, the error convention.
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "model/buf.h"
#include "model/err.h"
#include "model/fileio.h"
#include "model/params.h"

TestSuite(infra);

Test(infra, params_layout_is_contiguous_in_order) {
    ParamSet ps = {0};
    int s1[2] = {3, 4}, s2[3] = {2, 5, 7}, s3[1] = {6};
    cr_assert_eq(params_add(&ps, "embed.W_E", 2, s1), 0);
    cr_assert_eq(params_add(&ps, "blocks.0.attn.W_Q", 3, s2), 1);
    cr_assert_eq(params_add(&ps, "b", 1, s3), 2);
    cr_assert_eq(params_add(&ps, "b", 1, s3), -1, "duplicate accepted");
    cr_assert(strstr(err_msg(), "duplicate"));
    int bad[1] = {0};
    cr_assert_eq(params_add(&ps, "zero", 1, bad), -1);
    cr_assert_eq(params_alloc(&ps), 0);
    cr_assert_eq(ps.numel, 12u + 70u + 6u);
    cr_assert_eq(ps.info[1].offset, 12u);
    cr_assert_eq(ps.info[2].offset, 82u);
    cr_assert_eq(params_data(&ps, "b"), ps.data + 82);
    cr_assert_eq(params_grad(&ps, "blocks.0.attn.W_Q"), ps.grad + 12);
    cr_assert_null(params_data(&ps, "nope"));
    Tensor t = params_tensor(&ps, 1);
    cr_assert(t.ndim == 3 && t.shape[0] == 2 && t.shape[1] == 5 && t.shape[2] == 7);
    for (size_t i = 0; i < ps.numel; i++) cr_assert_eq(ps.data[i], 0.0f);
    ps.grad[5] = 3;
    params_zero_grad(&ps);
    cr_assert_eq(ps.grad[5], 0.0f);
    params_free(&ps);
    params_free(&ps);
}

Test(infra, buf_formats_and_escapes) {
    Buf b = {0};
    buf_printf(&b, "%d-%s", 42, "x");
    buf_put_xml(&b, "<a&'\">");
    buf_put_json_str(&b, "q\"\\\n\x01");
    cr_assert_str_eq(b.p, "42-x&lt;a&amp;&#39;&quot;&gt;\"q\\\"\\\\\\n\\u0001\"");
    buf_reset(&b);
    for (int i = 0; i < 1000; i++) buf_printf(&b, "%04d", i);
    cr_assert_eq(b.len, 4000u);
    cr_assert_eq(strncmp(b.p + 3996, "0999", 4), 0);
    buf_free(&b);
}

Test(infra, atomic_write_replaces_whole_file_and_leaves_no_temp) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/sub/a.txt", dir);
    char sub[100];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    cr_assert_eq(fileio_mkdirs(sub), 0);
    cr_assert_eq(fileio_write_all(path, "hello", 5), 0);
    char *data;
    size_t len;
    cr_assert_eq(fileio_read_all(path, 100, &data, &len), 0);
    cr_assert_eq(len, 5u);
    cr_assert_str_eq(data, "hello");
    free(data);
    cr_assert_eq(fileio_read_all(path, 3, &data, &len), -1, "size limit not enforced");
    cr_assert(strstr(err_msg(), path), "message names the file: %s", err_msg());
    // An aborted write leaves the old content.
    AtomicFile af;
    cr_assert_eq(fileio_begin(&af, path), 0);
    fputs("half", af.f);
    fileio_abort(&af);
    cr_assert_eq(fileio_read_all(path, 100, &data, &len), 0);
    cr_assert_str_eq(data, "hello");
    free(data);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s/sub | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "temporary file left behind");
    rm_tree(dir);
}

Test(infra, write_into_missing_folder_fails_with_named_error) {
    cr_assert_eq(fileio_write_all("/nonexistent-dir/x/y.bin", "a", 1), -1);
    cr_assert(strstr(err_msg(), "/nonexistent-dir/x/y.bin"), "%s", err_msg());
}

Test(infra, failed_commit_removes_the_temporary) {
    // The temporary can be created but the rename onto a folder fails: the error names the
    // target and no temporary is left behind (the same path a full disk takes at fsync/close).
    char dir[64], target[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(target, sizeof target, "%s/isdir", dir);
    mkdir(target, 0755);
    cr_assert_eq(fileio_write_all(target, "abc", 3), -1);
    cr_assert(strstr(err_msg(), "isdir"), "%s", err_msg());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0, "temporary file left behind");
    rm_tree(dir);
}

Test(infra, err_prefix_names_the_file) {
    err_set("bad magic %d", 7);
    err_prefix("a.npy");
    cr_assert_str_eq(err_msg(), "a.npy: bad magic 7");
}
