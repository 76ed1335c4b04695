// tokens.h — token-sequence datasets for the transformer.
//
//   random   uniform random tokens (nothing to learn: the best loss is ln(vocab))
//   repeat   [BOS] r_1..r_L r_1..r_L — a random segment, then the same segment again; the second
//            half is predictable only by looking back (induction). L = (T - has_bos) / 2.
//            With rep_min > 0 the segment length varies: L is drawn per sequence from
//            [rep_min, (T - has_bos) / 2] and the segment repeats to the end of the sequence,
//            [BOS] r_1..r_L r_1..r_L r_1.. (the last copy cut off at T). Then the distance
//            between copies varies, so a single attention layer cannot predict the copies from
//            positions alone (with a fixed L it can: attend from t to t - L + 1), and every
//            position can hold a token that is predicted later, so the heads that serve
//            induction are needed at every position.
//   text     windows of a text file, one token per byte; the vocabulary is the sorted set of
//            distinct bytes in the file (stored in checkpoints so ids map back to characters)
//
// Every batch is drawn from an Rng the caller owns (save it to resume bit-identically).
// targets[b,t] = tokens[b,t+1] (next-token prediction); the last position's target is -1
// (ignored by crossentropy). For `repeat`, ops that score only the repeated half can use
// tokens_repeat_half() to know where it starts.
#ifndef MECHLAB_TOKENS_H
#define MECHLAB_TOKENS_H

#include <stddef.h>

#include "model/rng.h"

typedef enum { TOK_RANDOM, TOK_REPEAT, TOK_TEXT } TokKind;

#define TOK_VOCAB_MAX 256

typedef struct {
    TokKind kind;
    int vocab;    // number of token ids (random, repeat: chosen; text: distinct bytes)
    int bos;      // repeat: BOS token id (vocab - 1) or -1 for none; random tokens avoid it
    int rep_min;  // repeat: shortest segment (0: always the longest, (T - has_bos) / 2)
    // text only:
    char *path;                  // the file it came from
    unsigned char *ids;          // the file as token ids
    size_t n_ids;
    size_t n_train;              // ids[0..n_train) train, ids[n_train..n_ids) validation (last 10 %)
    unsigned char chars[TOK_VOCAB_MAX];  // id -> byte
} TokenData;

// random / repeat: vocab >= 2 (repeat with BOS needs >= 3). Returns 0, or -1 with err_set.
int tokens_init_synthetic(TokenData *d, TokKind kind, int vocab, int use_bos);
// text: reads the file, builds the vocabulary. Errors name the file (missing, empty, too short
// for one window of min_len + 1 bytes in both splits).
int tokens_init_text(TokenData *d, const char *path, int min_len);
// text from a stored vocabulary (e.g. a checkpoint's): ids for `chars[0..vocab)`.
int tokens_init_text_vocab(TokenData *d, const unsigned char *chars, int vocab);
void tokens_free(TokenData *d);

// Fills tokens[B,T] and targets[B,T]. split: 0 train, 1 validation (text only; synthetic data
// ignores it — draw validation batches from a separately seeded Rng).
void tokens_batch(const TokenData *d, Rng *rng, int split, int *tokens, int *targets, int B,
                  int T);

// Where the copies of a repeat sequence are: the first is [start, start + len), the repeats
// fill [start + len, end).
typedef struct {
    int start, len, end;
} TokRepeat;

// tokens_batch, and for repeat data each sequence's layout in layout[B] (may be NULL; for other
// kinds it is left untouched). The same draws as tokens_batch.
void tokens_batch_layout(const TokenData *d, Rng *rng, int split, int *tokens, int *targets,
                         int B, int T, TokRepeat *layout);

// Index of the first position of the repeated half for a repeat sequence of length T (with a
// fixed segment length, rep_min = 0).
int tokens_repeat_half(const TokenData *d, int T);

// Maps a byte string to ids with the text vocabulary; -1 with err_set on a byte not in it.
int tokens_encode(const TokenData *d, const char *s, size_t n, int *ids);

// Parses "random", "repeat", "text:FILE" into a kind and a path (NULL unless text).
int tokens_parse_spec(const char *spec, TokKind *kind, const char **path);

#endif
