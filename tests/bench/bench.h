// bench.h — benchmarks print one machine-readable line per figure:
//   bench <name> key=value key=value ...
// e.g. "bench gemm impl=fast M=512 N=512 K=512 threads=1 gflops=61.3 seconds=0.0044".
#ifndef MECHLAB_BENCH_H
#define MECHLAB_BENCH_H

void bench_gemm(void);
void bench_transformer(void);
void bench_induction(void);
void bench_toy(void);
void bench_cnn(void);
void bench_sae(void);

#endif
