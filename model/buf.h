// buf.h — a growable byte buffer for text the project writes (SVG, HTML, JSON, CSV, headers).
//
// Render into a Buf, then hand buf.p/buf.len to fileio_write_all() so the file appears whole or
// not at all. A Buf starts zeroed (Buf b = {0};) and is released with buf_free.
#ifndef MECHLAB_BUF_H
#define MECHLAB_BUF_H

#include <stddef.h>

typedef struct {
    char *p;      // NUL-terminated after every append (when cap > 0)
    size_t len;   // bytes used, not counting the NUL
    size_t cap;
    int oom;      // set when an allocation failed; later appends are ignored
} Buf;

// Appends formatted text / raw bytes / a NUL-terminated string. On allocation failure sets
// b->oom and leaves the content as it was.
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_append(Buf *b, const void *data, size_t n);
void buf_puts(Buf *b, const char *s);

// Appends s with the characters special in XML/HTML (& < > " ') escaped.
void buf_put_xml(Buf *b, const char *s);

// Appends s as a JSON string literal, quotes included (control chars as \uXXXX).
void buf_put_json_str(Buf *b, const char *s);

// Appends the n bytes at data in base64 (RFC 4648, with '=' padding), as data: URIs want.
void buf_put_base64(Buf *b, const void *data, size_t n);

void buf_reset(Buf *b);  // len = 0, keeps memory
void buf_free(Buf *b);   // releases memory; buf_free on a zeroed Buf is fine

#endif
