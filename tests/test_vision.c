// The vision experiments end to end on tiny settings: `mechlab run curves` and
// `mechlab run fashion` (on a small IDX data set written here, so the test does not depend on
// the installed Fashion-MNIST) write their report, summary and figures; a missing data set is
// an error that says how to install it.
#include <stdint.h>
#include <string.h>

#include "datasets/images.h"
#include "helpers.h"
#include "model/fileio.h"

TestSuite(vision);

Test(vision, run_curves_tiny) {
    char d[64], args[400];
    make_tmpdir(d, sizeof d);
    snprintf(args, sizeof args,
             "run curves --steps 40 --n-train 512 --fv-steps 4 --top 1 --out %s/c", d);
    cr_assert_eq(run_cli(args, d), 0, "%s", read_in(d, "err.txt"));
    char run[100];
    snprintf(run, sizeof run, "%s/c", d);
    char *sum = read_in(run, "summary.json");
    cr_assert(strstr(sum, "\"experiment\": \"curves\"") && strstr(sum, "layer0_share_clear") &&
              strstr(sum, "layer3_share_match") && strstr(sum, "\"checks\""), "%s", sum);
    free(sum);
    char *html = read_in(run, "report.html");
    cr_assert(strstr(html, "data:image/png;base64,") && strstr(html, "<svg") &&
              strstr(html, "First-layer filters"), "report incomplete");
    free(html);
    const char *files[] = {"filters_layer0.png", "featviz_layer0.png", "featviz_layer3.png",
                           "tuning_layer0.svg", "osi_layer3.svg", "model.safetensors"};
    for (int i = 0; i < 6; i++) free(read_in(run, files[i]));
    char *out = read_in(d, "out.txt");
    cr_assert(strstr(out, "share of first-layer units"), "%s", out);
    free(out);
    cr_assert_eq(run_cli("run curves --data squares", d), 2);
    // mechlab featviz on the trained model
    snprintf(args, sizeof args, "featviz %s --point layers.0.hook_out --channels 1,3 --unit "
             "--steps 8 --seeds 2 --out %s/fv.png", run, d);
    cr_assert_eq(run_cli(args, d), 0, "%s", read_in(d, "err.txt"));
    out = read_in(d, "out.txt");
    cr_assert(strstr(out, "layers.0.hook_out channel 1: activation") &&
              strstr(out, "channel 3: activation"), "%s", out);
    free(out);
    free(read_in(d, "fv.png"));
    snprintf(args, sizeof args, "featviz %s --point layers.0.hook_out --channels 8 --out %s/x.png",
             run, d);
    cr_assert_eq(run_cli(args, d), 2);
    snprintf(args, sizeof args, "featviz %s --point nowhere --out %s/x.png", run, d);
    cr_assert_eq(run_cli(args, d), 1);
    rm_tree(d);
}

// IDX files with a 16-byte (images) or 8-byte (labels) header, big-endian dimensions.
static void write_idx(const char *path, const uint8_t *data, int n, int images) {
    uint8_t hdr[16] = {0, 0, 8, (uint8_t)(images ? 3 : 1), (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                       (uint8_t)(n >> 8), (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    size_t hl = images ? 16 : 8, len = (size_t)n * (images ? 784 : 1);
    uint8_t *buf = malloc(hl + len);
    memcpy(buf, hdr, hl);
    memcpy(buf + hl, data, len);
    cr_assert_eq(fileio_write_all(path, buf, hl + len), 0);
    free(buf);
}

// Line orientations (8 classes) at 28×28 stand in for the clothes.
static void fake_fashion(const char *dir) {
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    int counts[2] = {256, 96};
    for (int split = 0; split < 2; split++) {
        ImageSet s;
        ImgSynthConfig c = images_synth_defaults(IMG_LINES, 28);
        cr_assert_eq(images_synth(&s, &c, counts[split], 5 + split), 0);
        int n = s.n;
        uint8_t *px = malloc((size_t)n * 784), *lb = malloc(n);
        for (int i = 0; i < n * 784; i++) px[i] = (uint8_t)(s.x[i] * 255 + 0.5f);
        for (int i = 0; i < n; i++) lb[i] = (uint8_t)s.y[i];
        char p[200];
        snprintf(p, sizeof p, "%s/%s", dir, names[split][0]);
        write_idx(p, px, n, 1);
        snprintf(p, sizeof p, "%s/%s", dir, names[split][1]);
        write_idx(p, lb, n, 0);
        free(px);
        free(lb);
        images_free(&s);
    }
}

Test(vision, run_fashion_tiny_and_missing_data) {
    char d[64], args[500];
    make_tmpdir(d, sizeof d);
    fake_fashion(d);
    snprintf(args, sizeof args,
             "run fashion --data-dir %s --arch conv3x3:4,relu,maxpool2,conv3x3:4,relu,maxpool2,"
             "linear:10 --epochs 1 --fv-steps 4 --ig-images 2 --probe-n 60 --out %s/f", d, d);
    cr_assert_eq(run_cli(args, d), 0, "%s", read_in(d, "err.txt"));
    char run[100];
    snprintf(run, sizeof run, "%s/f", d);
    char *sum = read_in(run, "summary.json");
    cr_assert(strstr(sum, "\"experiment\": \"fashion\"") && strstr(sum, "\"confusion\": [[") &&
              strstr(sum, "\"probes\": [{\"point\": \"hook_in\"") &&
              strstr(sum, "ig_worst_completeness_error"), "%s", sum);
    free(sum);
    const char *files[] = {"report.html", "confusion.svg", "featviz_last_conv.png", "ig_0.png",
                           "ig_1.png", "probes.svg", "learning_curve.svg",
                           "featviz_last_conv_unit.png"};
    for (int i = 0; i < 8; i++) free(read_in(run, files[i]));
    // no data: exit 1, with the way to get it
    snprintf(args, sizeof args, "run fashion --data-dir %s/none --out %s/g", d, d);
    cr_assert_eq(run_cli(args, d), 1);
    char *err = read_in(d, "err.txt");
    cr_assert(strstr(err, "mechlab: ") && strstr(err, "apt-get install dataset-fashion-mnist"),
              "%s", err);
    free(err);
    rm_tree(d);
}
