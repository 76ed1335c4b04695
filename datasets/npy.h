// npy.h — numpy's .npy format: arrays a user opens with numpy.load (activations, PCA
// components, probe directions) and arrays a user hands us (token ids, images).
//
// Reads versions 1.0, 2.0 and 3.0 with dtypes b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8 in
// either byte order ('>' is swapped on read) and either memory order (fortran_order True is
// transposed into C order on read). The reader trusts nothing: the header dict is parsed as the
// small Python literal it is ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }),
// exactly those three keys, shape a tuple of non-negative integers whose byte size does not
// overflow, and the payload exactly shape product x item size long (a truncated file and
// extra bytes are both errors).
//
// The writers produce version 1.0 files byte for byte as numpy.save does: header padded with
// spaces and a newline so the data starts at a multiple of 64, including numpy's spare room for
// the first axis to grow. They write atomically through model/fileio. NpyWriter streams an
// array too big to hold, one batch of rows at a time.
#ifndef MECHLAB_NPY_H
#define MECHLAB_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "model/fileio.h"

#define NPY_MAX_DIMS 8

typedef enum {
    NPY_BOOL, NPY_I8, NPY_U8, NPY_I16, NPY_U16, NPY_I32, NPY_U32, NPY_I64, NPY_U64,
    NPY_F16, NPY_F32, NPY_F64
} NpyDtype;

typedef struct {
    NpyDtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t numel;
    void *data;  // numel elements, C order, host byte order, malloc'd (never NULL after a load);
                 // bools are 0 or 1
} NpyArray;

// Bytes per element, and the numpy type code without byte order ("f4", "b1", ...).
size_t npy_dtype_size(NpyDtype d);
const char *npy_dtype_name(NpyDtype d);

// Parses a whole .npy file held in memory. Returns 0, or -1 with err_set (no file name; the
// caller adds it). On failure a is empty; npy_free is still fine.
int npy_parse(NpyArray *a, const void *bytes, size_t len);
// Reads and parses a file; errors are "PATH: what is wrong".
int npy_load(NpyArray *a, const char *path);
// Frees a->data; a zeroed or freed array is fine.
void npy_free(NpyArray *a);

// Converts a loaded array into out (a->numel elements). npy_to_f32 takes any dtype (bool as
// 0/1; 64-bit integers round to the nearest float). npy_to_i64 takes integer dtypes only: a
// float or bool array, or a u64 value above INT64_MAX, is an error.
int npy_to_f32(const NpyArray *a, float *out);
int npy_to_i64(const NpyArray *a, int64_t *out);

// Loads a file and converts it: *data is malloc'd (caller frees), *ndim and shape[0..ndim)
// receive the shape (shape must hold NPY_MAX_DIMS values). npy_load_i64 fails with
// "PATH: dtype <f4 ..., expected integer tokens" on a non-integer file.
int npy_load_f32(const char *path, float **data, int *ndim, int64_t *shape);
int npy_load_i64(const char *path, int64_t **data, int *ndim, int64_t *shape);

// Writes data (C order, host byte order) as a version 1.0 file, atomically. Returns 0, or -1
// with err "PATH: ...".
int npy_save(const char *path, NpyDtype dtype, int ndim, const int64_t *shape, const void *data);
int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape);
int npy_save_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape);
int npy_save_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape);

// Streaming writer: the header first, then rows (slices along axis 0) batch by batch, then
// commit renames the finished file into place. If shape[0] is NPY_ROWS_UNKNOWN, any number of
// rows may be written and commit patches the count into the header (numpy leaves room for
// exactly that); otherwise commit checks that shape[0] rows arrived. A 0-dim array is one "row".
//     NpyWriter w;
//     int64_t shape[3] = {NPY_ROWS_UNKNOWN, T, D};
//     if (npy_writer_begin(&w, path, NPY_F32, 3, shape)) return -1;
//     for (each batch) if (npy_writer_write(&w, acts, B)) return -1;
//     if (npy_writer_commit(&w)) return -1;
// After any failure the writer has already removed its temporary file; npy_writer_abort is
// for a failure of the caller's own and may be called any number of times.
#define NPY_ROWS_UNKNOWN (-1)

typedef struct {
    AtomicFile af;
    NpyDtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int rows_known;      // shape[0] was given
    int64_t rows;        // rows written so far
    size_t row_bytes;    // bytes per row (product of shape[1..] x item size)
    size_t header_len;   // bytes of magic + length + dict, a multiple of 64
    int open;            // 1 between a successful begin and commit/abort
} NpyWriter;

int npy_writer_begin(NpyWriter *w, const char *path, NpyDtype dtype, int ndim,
                     const int64_t *shape);
// Appends nrows rows (nrows x row_bytes bytes, C order, host byte order).
int npy_writer_write(NpyWriter *w, const void *rows, int64_t nrows);
int npy_writer_commit(NpyWriter *w);
void npy_writer_abort(NpyWriter *w);

#endif
