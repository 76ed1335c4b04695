// Token datasets: repeat structure, next-token targets, text vocabulary and windows, bad input.
#include <string.h>

#include "datasets/tokens.h"
#include "helpers.h"
#include "model/err.h"
#include "model/fileio.h"

TestSuite(tokens);

Test(tokens, repeat_second_half_copies_first_with_bos) {
    TokenData d;
    cr_assert_eq(tokens_init_synthetic(&d, TOK_REPEAT, 10, 1), 0);
    Rng r;
    rng_seed(&r, 1);
    enum { B = 50, T = 21 };
    int tok[B * T], tg[B * T];
    tokens_batch(&d, &r, 0, tok, tg, B, T);
    cr_assert_eq(tokens_repeat_half(&d, T), 11);
    for (int b = 0; b < B; b++) {
        int *s = tok + b * T;
        cr_assert_eq(s[0], 9, "BOS first");
        for (int t = 1; t <= 10; t++) {
            cr_assert_eq(s[t], s[t + 10], "seq %d pos %d", b, t);
            cr_assert(s[t] >= 0 && s[t] < 9, "a segment token is BOS or out of range");
        }
        for (int t = 0; t < T - 1; t++) cr_assert_eq(tg[b * T + t], s[t + 1]);
        cr_assert_eq(tg[b * T + T - 1], -1);
    }
}

// Variable-length repeats: a segment of length in [rep_min, longest] after BOS, repeated to the
// end; the layout says where; every length is drawn; the stream without a layout is the same.
Test(tokens, variable_length_repeats_report_their_layout) {
    TokenData d;
    cr_assert_eq(tokens_init_synthetic(&d, TOK_REPEAT, 12, 1), 0);
    d.rep_min = 4;
    enum { B = 400, T = 20 };  // longest segment (20 - 1) / 2 = 9
    static int tok[B * T], tg[B * T], tok2[B * T];
    TokRepeat lay[B];
    Rng r, r2;
    rng_seed(&r, 5);
    rng_seed(&r2, 5);
    tokens_batch_layout(&d, &r, 0, tok, tg, B, T, lay);
    tokens_batch(&d, &r2, 0, tok2, NULL, B, T);
    cr_assert_eq(memcmp(tok, tok2, sizeof tok), 0, "the layout changes no draw");
    int seen[10] = {0};
    for (int b = 0; b < B; b++) {
        const int *s = tok + b * T, L = lay[b].len;
        cr_assert(L >= 4 && L <= 9, "length %d", L);
        cr_assert(lay[b].start == 1 && lay[b].end == T);
        seen[L]++;
        cr_assert_eq(s[0], 11);
        for (int t = 1; t < T; t++) cr_assert(s[t] >= 0 && s[t] < 11);
        for (int t = 1 + L; t < T; t++) cr_assert_eq(s[t], s[t - L], "seq %d pos %d", b, t);
        for (int t = 0; t + 1 < T; t++) cr_assert_eq(tg[b * T + t], s[t + 1]);
    }
    for (int L = 4; L <= 9; L++) cr_assert_gt(seen[L], 30, "length %d drawn %d times", L, seen[L]);
    // rep_min 0 is the fixed layout: two copies of 9, then one random pad token.
    d.rep_min = 0;
    tokens_batch_layout(&d, &r, 0, tok, tg, 3, T, lay);
    for (int b = 0; b < 3; b++) cr_assert(lay[b].start == 1 && lay[b].len == 9 && lay[b].end == 19);
}

Test(tokens, random_tokens_cover_vocab_uniformly) {
    TokenData d;
    cr_assert_eq(tokens_init_synthetic(&d, TOK_RANDOM, 7, 0), 0);
    Rng r;
    rng_seed(&r, 2);
    enum { B = 100, T = 70 };
    static int tok[B * T];
    tokens_batch(&d, &r, 0, tok, NULL, B, T);
    int count[7] = {0};
    for (int i = 0; i < B * T; i++) {
        cr_assert(tok[i] >= 0 && tok[i] < 7);
        count[tok[i]]++;
    }
    for (int k = 0; k < 7; k++) cr_assert(abs(count[k] - 1000) < 150, "bin %d: %d", k, count[k]);
}

Test(tokens, text_vocab_windows_and_encoding) {
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.txt", dir);
    char text[400];
    for (int i = 0; i < 399; i++) text[i] = "abcab ba\n"[i % 9];
    text[399] = 'z';
    cr_assert_eq(fileio_write_all(path, text, 400), 0);
    TokenData d;
    cr_assert_eq(tokens_init_text(&d, path, 16), 0, "%s", err_msg());
    cr_assert_eq(d.vocab, 6);  // \n space a b c z, sorted by byte
    cr_assert_eq(d.chars[0], '\n');
    cr_assert_eq(d.chars[5], 'z');
    cr_assert_eq(d.n_train, 360u);
    Rng r;
    rng_seed(&r, 3);
    enum { B = 20, T = 16 };
    int tok[B * T], tg[B * T];
    for (int split = 0; split < 2; split++) {
        tokens_batch(&d, &r, split, tok, tg, B, T);
        for (int b = 0; b < B; b++) {
            // Find the window in the file: decoded tokens must be a substring of the right split.
            char s[T + 2];
            for (int t = 0; t < T; t++) s[t] = (char)d.chars[tok[b * T + t]];
            s[T] = (char)d.chars[tg[b * T + T - 1]];
            s[T + 1] = '\0';
            const char *lo = split ? text + 360 : text;
            size_t len = split ? 40 : 360;
            int found = 0;
            for (size_t o = 0; o + T + 1 <= len; o++) found |= !memcmp(lo + o, s, T + 1);
            cr_assert(found, "window %d of split %d not in its split", b, split);
            for (int t = 0; t + 1 < T; t++) cr_assert_eq(tg[b * T + t], tok[b * T + t + 1]);
        }
    }
    int ids[3];
    cr_assert_eq(tokens_encode(&d, "ab\n", 3, ids), 0);
    cr_assert(ids[0] == 2 && ids[1] == 3 && ids[2] == 0);
    cr_assert_eq(tokens_encode(&d, "aq", 2, ids), -1);
    cr_assert(strstr(err_msg(), "0x71"), "%s", err_msg());
    tokens_free(&d);
    rm_tree(dir);
}

Test(tokens, bad_inputs_are_errors) {
    TokenData d;
    cr_assert_eq(tokens_init_text(&d, "/no/such/file.txt", 8), -1);
    cr_assert(strstr(err_msg(), "/no/such/file.txt"));
    char dir[64], path[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/short.txt", dir);
    cr_assert_eq(fileio_write_all(path, "hello", 5), 0);
    cr_assert_eq(tokens_init_text(&d, path, 8), -1);
    cr_assert(strstr(err_msg(), "too short"), "%s", err_msg());
    rm_tree(dir);
    cr_assert_eq(tokens_init_synthetic(&d, TOK_REPEAT, 1, 0), -1);
    TokKind k;
    const char *p;
    cr_assert_eq(tokens_parse_spec("text:a.txt", &k, &p), 0);
    cr_assert(k == TOK_TEXT && !strcmp(p, "a.txt"));
    cr_assert_eq(tokens_parse_spec("bogus", &k, &p), -1);
}
