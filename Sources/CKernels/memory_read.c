// Streaming reads for the bandwidth measurement of memory_read.h.
#include "memory_read.h"

float looplm_read_sum_portable(const float *x, long count) {
    float a = 0, b = 0, c = 0, d = 0;
    long i = 0;
    for (; i + 4 <= count; i += 4) {
        a += x[i];
        b += x[i + 1];
        c += x[i + 2];
        d += x[i + 3];
    }
    for (; i < count; i++) a += x[i];
    return (a + b) + (c + d);
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "horizontal_sum.h"

__attribute__((target("avx2,fma"))) float looplm_read_sum_avx2(const float *x, long count) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    long i = 0;
    for (; i + 32 <= count; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(x + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(x + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(x + i + 24));
    }
    return looplm_horizontal_sum8(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)))
        + looplm_read_sum_portable(x + i, count - i);
}
#else
float looplm_read_sum_avx2(const float *x, long count) { return looplm_read_sum_portable(x, count); }
#endif
