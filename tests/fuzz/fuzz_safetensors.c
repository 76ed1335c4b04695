// libFuzzer target: the safetensors reader on arbitrary bytes; on success every tensor is read
// end to end (so ASan sees any offset that escaped validation) and copied when it is F32.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    StFile f;
    if (st_parse(&f, data, size, "fuzz.safetensors") == 0) {
        unsigned sum = 0;
        for (int i = 0; i < f.n; i++) {
            const StTensor *t = &f.tensors[i];
            const unsigned char *p = t->data;
            for (size_t k = 0; k < t->end - t->begin; k++) sum += p[k];
            if (st_find(&f, t->name) == NULL) abort();  // every listed name must be found
            if (t->dtype == ST_F32 && t->ndim <= 8) {
                int shape[8];
                int ok = 1;
                for (int d = 0; d < t->ndim; d++) {
                    if (t->shape[d] > 1 << 20) ok = 0;
                    shape[d] = (int)t->shape[d];
                }
                float *dst = malloc(t->end - t->begin + 1);
                if (ok && dst && st_copy_f32(&f, t->name, dst, t->ndim, shape) != 0) abort();
                free(dst);
            }
        }
        for (int i = 0; i < f.nmeta; i++)
            if (st_meta(&f, f.meta_keys[i]) == NULL) abort();
        (void)sum;
    }
    st_close(&f);
    return 0;
}
