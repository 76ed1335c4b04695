#include "tokens.h"

#include <stdlib.h>
#include <string.h>

#include "model/err.h"
#include "model/fileio.h"

#define TEXT_MAX_BYTES ((size_t)1 << 30)

int tokens_init_synthetic(TokenData *d, TokKind kind, int vocab, int use_bos) {
    memset(d, 0, sizeof *d);
    if (kind == TOK_TEXT) return err_set("tokens: text data needs a file");
    if (vocab < 2 || vocab > 1000000) return err_set("tokens: vocab %d out of range [2, 1e6]", vocab);
    if (kind == TOK_REPEAT && use_bos && vocab < 3)
        return err_set("tokens: repeat data with BOS needs vocab >= 3");
    d->kind = kind;
    d->vocab = vocab;
    d->bos = (kind == TOK_REPEAT && use_bos) ? vocab - 1 : -1;
    return 0;
}

static void build_vocab(TokenData *d, const unsigned char *bytes, size_t n) {
    int seen[256] = {0};
    for (size_t i = 0; i < n; i++) seen[bytes[i]] = 1;
    int map[256];
    d->vocab = 0;
    for (int c = 0; c < 256; c++) {
        map[c] = -1;
        if (seen[c]) {
            map[c] = d->vocab;
            d->chars[d->vocab++] = (unsigned char)c;
        }
    }
    for (size_t i = 0; i < n; i++) d->ids[i] = (unsigned char)map[bytes[i]];
}

int tokens_init_text(TokenData *d, const char *path, int min_len) {
    memset(d, 0, sizeof *d);
    char *data;
    size_t n;
    if (fileio_read_all(path, TEXT_MAX_BYTES, &data, &n)) return -1;
    size_t need = 10 * (size_t)(min_len + 1);
    if (n < need) {
        free(data);
        return err_set("%s: %zu bytes is too short for sequences of %d tokens (need at least %zu: "
                       "90 %% train, 10 %% validation)",
                       path, n, min_len, need);
    }
    d->kind = TOK_TEXT;
    d->bos = -1;
    d->ids = malloc(n);
    d->path = malloc(strlen(path) + 1);
    if (!d->ids || !d->path) {
        free(data);
        tokens_free(d);
        return err_set("%s: out of memory", path);
    }
    strcpy(d->path, path);
    build_vocab(d, (const unsigned char *)data, n);
    free(data);
    d->n_ids = n;
    d->n_train = n - n / 10;
    return 0;
}

int tokens_init_text_vocab(TokenData *d, const unsigned char *chars, int vocab) {
    memset(d, 0, sizeof *d);
    if (vocab < 1 || vocab > TOK_VOCAB_MAX) return err_set("tokens: text vocab size %d", vocab);
    d->kind = TOK_TEXT;
    d->bos = -1;
    d->vocab = vocab;
    memcpy(d->chars, chars, (size_t)vocab);
    return 0;
}

void tokens_free(TokenData *d) {
    free(d->ids);
    free(d->path);
    memset(d, 0, sizeof *d);
}

// A random token that is not BOS.
static int draw_token(const TokenData *d, Rng *rng) {
    int n = d->bos >= 0 ? d->vocab - 1 : d->vocab;
    return (int)rng_int(rng, (uint32_t)n);  // BOS is vocab-1, so [0, vocab-1) excludes it
}

int tokens_repeat_half(const TokenData *d, int T) {
    int off = d->bos >= 0 ? 1 : 0;
    return off + (T - off) / 2;
}

void tokens_batch(const TokenData *d, Rng *rng, int split, int *tokens, int *targets, int B,
                  int T) {
    tokens_batch_layout(d, rng, split, tokens, targets, B, T, NULL);
}

void tokens_batch_layout(const TokenData *d, Rng *rng, int split, int *tokens, int *targets,
                         int B, int T, TokRepeat *layout) {
    for (int b = 0; b < B; b++) {
        int *tok = tokens + (size_t)b * T;
        if (d->kind == TOK_RANDOM) {
            for (int t = 0; t < T; t++) tok[t] = draw_token(d, rng);
        } else if (d->kind == TOK_REPEAT) {
            int off = d->bos >= 0 ? 1 : 0;
            int L = (T - off) / 2, end = off + 2 * L;
            if (off) tok[0] = d->bos;
            if (d->rep_min > 0 && d->rep_min < L) {
                // A segment of variable length, repeated to the end.
                L = d->rep_min + (int)rng_int(rng, (uint32_t)(L - d->rep_min + 1));
                end = T;
                for (int t = 0; t < L; t++) tok[off + t] = draw_token(d, rng);
                for (int t = off + L; t < T; t++) tok[t] = tok[t - L];
            } else {
                for (int t = 0; t < L; t++) tok[off + t] = tok[off + L + t] = draw_token(d, rng);
                for (int t = off + 2 * L; t < T; t++) tok[t] = draw_token(d, rng);  // odd T: pad
            }
            if (layout) layout[b] = (TokRepeat){off, L, end};
        } else {
            size_t lo = split ? d->n_train : 0, hi = split ? d->n_ids : d->n_train;
            size_t span = hi - lo - (size_t)T;  // windows of T + 1 bytes fit (checked at init)
            size_t start = lo + (size_t)(rng_u64(rng) % (span ? span : 1));
            for (int t = 0; t < T; t++) tok[t] = d->ids[start + (size_t)t];
            if (targets) {
                int *tg = targets + (size_t)b * T;
                for (int t = 0; t < T; t++) tg[t] = d->ids[start + (size_t)t + 1];
            }
            continue;
        }
        if (targets) {
            int *tg = targets + (size_t)b * T;
            for (int t = 0; t + 1 < T; t++) tg[t] = tok[t + 1];
            tg[T - 1] = -1;
        }
    }
}

int tokens_encode(const TokenData *d, const char *s, size_t n, int *ids) {
    int map[256];
    for (int c = 0; c < 256; c++) map[c] = -1;
    for (int i = 0; i < d->vocab; i++) map[d->chars[i]] = i;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (map[c] < 0) return err_set("character 0x%02x at byte %zu is not in the vocabulary", c, i);
        ids[i] = map[c];
    }
    return 0;
}

int tokens_parse_spec(const char *spec, TokKind *kind, const char **path) {
    *path = NULL;
    if (!strcmp(spec, "random")) *kind = TOK_RANDOM;
    else if (!strcmp(spec, "repeat")) *kind = TOK_REPEAT;
    else if (!strncmp(spec, "text:", 5) && spec[5]) {
        *kind = TOK_TEXT;
        *path = spec + 5;
    } else
        return err_set("--data '%s': expected random, repeat or text:FILE", spec);
    return 0;
}
