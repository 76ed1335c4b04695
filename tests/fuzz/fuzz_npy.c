// libFuzzer target: the .npy reader on arbitrary bytes; on success the array is converted to
// float32 and int64 (every element read, so ASan sees a size that escaped validation).
#include <stdint.h>
#include <stdlib.h>

#include "datasets/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NpyArray a;
    if (npy_parse(&a, data, size) == 0) {
        float *f = malloc(a.numel * sizeof(float) + 1);
        int64_t *v = malloc(a.numel * sizeof(int64_t) + 1);
        if (f && npy_to_f32(&a, f) != 0) abort();  // every dtype converts to float
        if (v) (void)npy_to_i64(&a, v);
        free(f);
        free(v);
    }
    npy_free(&a);
    return 0;
}
