// The benchmark binary (`make bench`): runs every benchmark in turn.
#include <stdio.h>

#include "bench.h"

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_gemm();
    bench_transformer();
    bench_induction();
    bench_toy();
    bench_cnn();
    bench_sae();
    return 0;
}
