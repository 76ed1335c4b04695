// json.h — a small JSON reader (DOM) for safetensors headers, config.json and cfg.json.
//
// Built for files we do not trust: the parser never recurses (an explicit stack, depth capped
// at JSON_MAX_DEPTH), never reads past `len`, and rejects everything RFC 8259 rejects — trailing
// garbage, unterminated strings, raw control characters in strings, bad escapes, lone UTF-16
// surrogates, invalid UTF-8, leading zeros, numbers that overflow a double. It also rejects two
// things RFC 8259 merely discourages, because the files we read forbid them: duplicate keys in an
// object and the NUL character (\u0000) in a string (C strings could not hold it, so two
// different keys could look equal). Every error says what is wrong and at which byte offset:
// "JSON byte 17: unterminated string".
//
// Writing JSON is done with model/buf.h (buf_put_json_str for strings) plus json_put_float /
// json_put_double below for numbers that read back exactly.
//
// Usage:
//     JsonDoc doc = {0};
//     if (json_parse(&doc, text, len)) return err_prefix(path);
//     const JsonValue *d = json_get(doc.root, "d_model");
//     ...
//     json_free(&doc);
// All values and strings live in the document's arena and die with json_free.
//
// Memory: a value takes 40 bytes, and the children of an open container are held once more on
// the parser's stack until it closes, so the worst case is a text of tiny values ("[0,0,0,...]")
// at about 40 bytes of memory per byte of text (measured: 10 MB -> 400 MB peak). Callers that
// parse untrusted text cap its length first (safetensors: ST_MAX_HEADER).
#ifndef MECHLAB_JSON_H
#define MECHLAB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSON_MAX_DEPTH 256  // nesting of arrays and objects

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonType type;
    int is_int;          // JSON_NUMBER written without fraction/exponent and fits in int64
    size_t offset;       // byte offset of the value in the text (for error messages)
    const char *key;     // the member's key when this value sits in an object, else NULL
    union {
        int boolean;     // JSON_BOOL: 0 or 1
        struct {
            double d;    // JSON_NUMBER, always set
            int64_t i;   // exact value when is_int
        } num;
        struct {
            const char *s;  // JSON_STRING: UTF-8, NUL-terminated, never contains NUL
            size_t len;
        } str;
        struct {
            JsonValue *items;  // JSON_ARRAY elements / JSON_OBJECT members (key in items[i].key),
            size_t n;          // in the order they appear in the text
        } arr;
    } u;
};

typedef struct JsonChunk JsonChunk;
typedef struct {
    JsonValue *root;     // NULL until a successful parse
    JsonChunk *chunks;   // arena (internal)
} JsonDoc;

// Parses len bytes of text (need not be NUL-terminated). Returns 0, or -1 with err_set
// ("JSON byte N: what"). On failure the doc holds nothing; json_free is still fine.
int json_parse(JsonDoc *doc, const char *text, size_t len);
// Reads a file (at most max_len bytes) and parses it; errors are prefixed with the path.
int json_parse_file(JsonDoc *doc, const char *path, size_t max_len);
// Releases the arena; a zeroed or freed doc is fine.
void json_free(JsonDoc *doc);

// "null", "bool", "number", "string", "array", "object".
const char *json_type_name(JsonType t);

// Lookup. All return NULL (or 0) when v is NULL or of the wrong type, so chains are safe:
// json_str(json_get(json_get(root, "cfg"), "name")).
const JsonValue *json_get(const JsonValue *obj, const char *key);  // member by key
const JsonValue *json_at(const JsonValue *v, size_t i);  // array element / object member i
size_t json_len(const JsonValue *v);                      // elements or members; 0 otherwise
const char *json_str(const JsonValue *v);                 // string contents or NULL
int json_is(const JsonValue *v, JsonType t);              // 1 if v is non-NULL and of type t

// Checked conversions: 0 on success, -1 with err_set naming the byte offset and what was found.
// json_double: any number. json_int: a number written as an integer (no '.', no exponent) within
// [lo, hi] — "1.0", "1e3" and out-of-range values are errors, so offsets and shapes are exact.
// json_bool: true/false.
int json_double(const JsonValue *v, double *out);
int json_int(const JsonValue *v, int64_t lo, int64_t hi, int64_t *out);
int json_bool(const JsonValue *v, int *out);

// Member lookups with errors for config readers: a missing key is an error ("missing key 'x'"),
// a wrong type names the key ("key 'x' (byte 40): expected a string, got number").
int json_get_string(const JsonValue *obj, const char *key, const char **out);
int json_get_double(const JsonValue *obj, const char *key, double *out);
int json_get_int(const JsonValue *obj, const char *key, int64_t lo, int64_t hi, int64_t *out);
int json_get_bool(const JsonValue *obj, const char *key, int *out);

// Numbers that read back to the same value: float with %.9g, double with %.17g. JSON has no
// NaN or infinity; those are written as null.
void json_put_float(Buf *b, float x);
void json_put_double(Buf *b, double x);

// 1 if the n bytes at s are valid UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), else 0. Writers use it so they never produce a file their own reader rejects.
int json_utf8_valid(const char *s, size_t n);

// Copies s into out (size n >= 8) for use inside an error message: control characters become
// \xNN and long strings are cut (at a UTF-8 boundary) with "...". Returns out.
const char *json_msg_str(char *out, size_t n, const char *s);

#endif
