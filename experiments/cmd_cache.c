// mechlab cache — run a checkpoint over a dataset and write chosen hook points as .npy files.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "model/err.h"
#include "verbs.h"

static void usage(FILE *f) {
    fprintf(f,
            "Usage: mechlab cache CKPT --hooks PATTERNS --out DIR [options]\n"
            "Run a transformer over a dataset in batches and write each matched hook point as\n"
            "DIR/<hook name>.npy (float32 [sequences, positions, ...]; attention patterns and\n"
            "scores [sequences, heads, query positions, key positions]), the tokens as\n"
            "DIR/tokens.npy (int32 [sequences, positions]) and DIR/index.json. Only the matched\n"
            "points are copied, one batch at a time.\n\n"
            "  --hooks PATTERNS   comma-separated hook names or globs, e.g.\n"
            "                     'blocks.*.hook_resid_post,blocks.0.attn.hook_pattern'\n"
            "                     (may be repeated; mechlab hooks CKPT lists the names)\n"
            "  --out DIR          output folder (created if missing)\n"
            ANA_DATA_HELP
            "  -h, --help\n");
}

enum { O_HOOKS = 256, O_OUT };

int cmd_cache(int argc, char **argv) {
    static const struct option opts[] = {{"hooks", 1, 0, O_HOOKS}, {"out", 1, 0, O_OUT},
                                         ANA_DATA_OPTIONS, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    AnaOpts a = ana_defaults();
    const char *out = NULL;
    char *hook_text[64];
    int n_text = 0;
    optind = 1;
    int c, h;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((h = ana_option(&a, "cache", c, optarg)) < 0) return EXIT_USAGE;
        if (h) continue;
        switch (c) {
        case 'h': usage(stdout); return EXIT_OK;
        case O_OUT: out = optarg; break;
        case O_HOOKS:
            if (n_text == 64) return cli_usage("cache", "too many --hooks options");
            hook_text[n_text++] = optarg;
            break;
        default: return cli_usage("cache", "unknown or incomplete option");
        }
    }
    if (optind != argc - 1) return cli_usage("cache", "expected one checkpoint");
    if (!n_text) return cli_usage("cache", "--hooks PATTERNS is required");
    if (!out) return cli_usage("cache", "--out DIR is required");

    // Split every --hooks value at commas (hook names never contain one).
    size_t total = 0;
    for (int i = 0; i < n_text; i++) total += strlen(hook_text[i]) + 1;
    char *text = malloc(total + 1);
    const char **pats = malloc(sizeof(char *) * (total + 1));
    if (!text || !pats) {
        free(text);
        free(pats);
        return cli_fail("out of memory");
    }
    int n_pat = 0;
    char *p = text;
    for (int i = 0; i < n_text; i++) {
        strcpy(p, hook_text[i]);
        for (char *tok = strtok(p, ","); tok; tok = strtok(NULL, ",")) pats[n_pat++] = tok;
        p += strlen(hook_text[i]) + 1;
    }
    int rc = EXIT_FAIL;
    AnaRun r;
    Cache cache = {0};
    if (n_pat == 0) {
        rc = cli_usage("cache", "--hooks: no pattern given");
        goto done;
    }
    if (ana_open(&r, argv[optind], &a)) {
        cli_fail_err();
        goto done;
    }
    CacheOpts co = {.hooks = pats, .n_hooks = n_pat, .pos = r.pos, .n_pos = r.n_pos,
                    .batch = (int)a.batch, .out_dir = out};
    if (cache_run(r.m, &r.d, &co, &cache)) {
        if (strstr(err_msg(), "matches no hook point"))
            cli_fail("%s (list them with: mechlab hooks %s)", err_msg(), argv[optind]);
        else
            cli_fail_err();
        ana_close(&r);
        goto done;
    }
    char ps[256], sh[128];
    printf("cached %d sequences x %d positions (data %s, positions %s) at %d hook point%s:\n",
           r.d.n, cache.n_pos, r.d.spec, ana_pos_str(ps, sizeof ps, cache.pos, cache.n_pos),
           cache.n_points, cache.n_points == 1 ? "" : "s");
    for (int i = 0; i < cache.n_points; i++) {
        const CachePoint *pt = &cache.points[i];
        printf("  %-36s %s float32 -> %s/%s.npy\n", pt->name,
               ana_shape_str(sh, sizeof sh, pt->ndim, pt->shape), out, pt->name);
    }
    printf("wrote %s/tokens.npy [%d, %d] int32 and %s/index.json\n", out, r.d.n, r.d.T, out);
    rc = EXIT_OK;
    cache_free(&cache);
    ana_close(&r);
done:
    free(text);
    free(pats);
    return rc;
}
