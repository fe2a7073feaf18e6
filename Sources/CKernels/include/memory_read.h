#ifndef LOOPLM_MEMORY_READ_H
#define LOOPLM_MEMORY_READ_H

/// The sum of x[0..<count] read as fast as one core can stream it (four independent 256-bit
/// accumulators), for measuring the memory bandwidth decoding is bound by. The AVX2 version is
/// compiled for that target by function attribute: call it only when the CPU has AVX2.
float looplm_read_sum_avx2(const float *x, long count);
float looplm_read_sum_portable(const float *x, long count);

#endif
