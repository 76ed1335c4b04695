// libFuzzer target: the IDX reader (and through it the inflate and gzip member reader) on
// arbitrary bytes; on success every data byte is read and converted as idx_load_pair does, so
// ASan sees a count that escaped validation.
#include <stdint.h>
#include <stdlib.h>

#include "datasets/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    IdxArray a;
    if (idx_parse(&a, data, size) == 0) {
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++) n *= (size_t)a.dims[i];
        if (n != a.count || a.ndim < 1 || a.ndim > IDX_MAX_DIMS) abort();
        float sum = 0;
        for (size_t i = 0; i < a.count; i++) sum += (float)a.data[i] / 255.0f;
        if (!(sum >= 0)) abort();
    }
    idx_free(&a);
    return 0;
}
