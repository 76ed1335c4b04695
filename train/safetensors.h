// safetensors.h — read and write huggingface safetensors files (checkpoints, optimiser state).
//
// Format: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//     {"__metadata__": {"key": "value", ...},
//      "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the byte buffer; offsets are relative to the buffer start, values little-endian.
//
// The reader trusts nothing: header length within the file and under ST_MAX_HEADER, JSON
// well-formed, every entry with a known dtype, a shape of <= 8 non-negative integers whose byte
// size does not overflow, offsets inside the buffer and exactly numel * dtype size long, no two
// tensors overlapping, no hole in the buffer, no duplicate names, metadata string -> string.
// Every failure names the file and the problem.
//
// The writer lays tensors out in the order given, pads the header with spaces so the data starts
// at a multiple of 8 bytes (as the reference implementation does), and writes through
// model/fileio (temporary file, fsync, rename).
#ifndef MECHLAB_SAFETENSORS_H
#define MECHLAB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
// Bytes of JSON header we agree to parse. A real header is ~100 bytes per tensor; the DOM costs
// up to ~40 bytes per header byte on hostile input, so 16 MB caps that at ~650 MB.
#define ST_MAX_HEADER (16u * 1000u * 1000u)

typedef enum { ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t begin, end;   // byte range in the data buffer
    const void *data;    // points into the file buffer (may be unaligned; little-endian)
} StTensor;

typedef struct {
    char *buf;           // the whole file
    size_t len;
    StTensor *tensors;   // in the order of the header
    int n;
    char **meta_keys;    // __metadata__, in the order of the header
    char **meta_vals;
    int nmeta;
    char *path;          // name used in error messages (mechlab addition to the agreed API)
} StFile;

// Reads and validates a file. Returns 0, or -1 with err "PATH: what is wrong" (f is then empty).
int st_open(StFile *f, const char *path);
// The same from memory: copies the len bytes; name_for_errors prefixes messages.
int st_parse(StFile *f, const void *data, size_t len, const char *name_for_errors);
// Tensor by name, or NULL.
const StTensor *st_find(const StFile *f, const char *name);
// __metadata__ value or NULL.
const char *st_meta(const StFile *f, const char *key);
// Copies a tensor into dst as float32 after checking it exists, is F32 and has exactly the given
// shape; errors like "PATH: tensor 'blocks.0.attn.W_Q' has shape [4,64,16], expected [4,64,32]".
int st_copy_f32(const StFile *f, const char *name, float *dst, int ndim, const int *shape);
// Frees everything; st_close on a zeroed or closed StFile is fine.
void st_close(StFile *f);

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;    // numel * dtype size bytes in host byte order (NULL allowed if numel 0)
} StWriteTensor;

// Writes n tensors (in this order) and nmeta metadata pairs atomically. Returns 0, or -1 with
// err "PATH: ..." (bad name, duplicate, bad shape, write failure).
int st_save(const char *path, const StWriteTensor *t, int n, const char *const *meta_keys,
            const char *const *meta_vals, int nmeta);

// "F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char *st_dtype_name(StDtype d);
// Bytes per element (0 for an invalid value).
size_t st_dtype_size(StDtype d);

#endif
