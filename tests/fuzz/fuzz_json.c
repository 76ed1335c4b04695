// libFuzzer target: the JSON reader on arbitrary bytes, then every lookup helper on the result.
#include <stddef.h>
#include <stdint.h>

#include "model/json.h"

// Visits every value, calling each accessor the way a config reader would (recursion is fine
// here: the parser caps depth at JSON_MAX_DEPTH).
static void walk(const JsonValue *root, const JsonValue *v) {
    int64_t i;
    double d;
    int b;
    (void)json_int(v, 0, INT64_MAX, &i);
    (void)json_double(v, &d);
    (void)json_bool(v, &b);
    (void)json_str(v);
    if (v->key && json_is(root, JSON_OBJECT)) (void)json_get(root, v->key);
    for (size_t k = 0; k < json_len(v); k++) walk(root, json_at(v, k));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    JsonDoc doc = {0};
    if (json_parse(&doc, (const char *)data, size) == 0) walk(doc.root, doc.root);
    json_free(&doc);
    return 0;
}
