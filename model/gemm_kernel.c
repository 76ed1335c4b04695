// gemm_kernel.c — picks the micro-kernel variant for this CPU (see gemm_kernel.h). The variants
// are one source, model/gemm_tile.h, compiled in model/gemm_kernel_<variant>.c.
#include "gemm_kernel.h"

#include <string.h>

#include "err.h"

extern const GemmKernel gemm_kernel_generic;
#if defined(__x86_64__)
extern const GemmKernel gemm_kernel_avx2;
static bool has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
static bool always(void) { return true; }

// Every variant compiled in, best first, with the test of whether this CPU runs it.
static const struct {
    const GemmKernel *k;
    bool (*usable)(void);
} variants[] = {
#if defined(__x86_64__)
    {&gemm_kernel_avx2, has_avx2_fma},
#endif
    {&gemm_kernel_generic, always},
};
#define NVARIANTS (int)(sizeof variants / sizeof variants[0])

static const GemmKernel *_Atomic chosen;

const GemmKernel *gemm_kernel(void) {
    const GemmKernel *k = chosen;
    if (k) return k;
    for (int i = 0; i < NVARIANTS && !k; i++)
        if (variants[i].usable()) k = variants[i].k;
    chosen = k;  // two threads racing here store the same pointer
    return k;
}

int gemm_kernel_select(const char *name) {
    for (int i = 0; i < NVARIANTS; i++)
        if (strcmp(variants[i].k->name, name) == 0) {
            if (!variants[i].usable())
                return err_set("gemm kernel %s: not supported by this CPU", name);
            chosen = variants[i].k;
            return 0;
        }
    return err_set("gemm kernel %s: not compiled in", name);
}
