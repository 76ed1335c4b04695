// fileio.h — files appear whole or not at all.
//
// Every file mechlab writes goes through here: it is written to a temporary name in the same
// folder ("<path>.tmp.XXXXXX"), flushed, fsync'd and renamed over <path>. On any error (full disk,
// no permission, a failed write) the temporary file is removed, <path> is left as it was, and the
// error names the file and the reason.
#ifndef MECHLAB_FILEIO_H
#define MECHLAB_FILEIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;         // write through this
    char *path;      // final name
    char *tmp_path;  // temporary name
} AtomicFile;

// Opens a temporary file beside `path`. Returns 0, or -1 with err_set.
int fileio_begin(AtomicFile *af, const char *path);
// Flushes, fsyncs, closes and renames onto the final path; checks every step (a short write on a
// full disk is caught here). Returns 0, or -1 with err_set (the temporary is removed).
int fileio_commit(AtomicFile *af);
// Closes and removes the temporary file (after a failure of the caller's own).
void fileio_abort(AtomicFile *af);

// Writes `len` bytes to `path` atomically (begin + fwrite + commit).
int fileio_write_all(const char *path, const void *data, size_t len);

// Reads a whole file into a malloc'd buffer with a NUL byte after it. Fails (-1, err_set naming
// the file) if it cannot be read or is larger than max_len bytes.
int fileio_read_all(const char *path, size_t max_len, char **data, size_t *len);

// Creates a folder and its parents (like mkdir -p). Returns 0, or -1 with err_set.
int fileio_mkdirs(const char *dir);

#endif
