// Shared by the decode kernels: the sum of a ymm register's eight floats, always in the same
// order (so a row's result does not depend on which kernel instance computed it).
#ifndef LOOPLM_HORIZONTAL_SUM_H
#define LOOPLM_HORIZONTAL_SUM_H
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline float looplm_horizontal_sum8(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    __m128 sum = _mm_add_ps(low, high);
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 1));
    return _mm_cvtss_f32(sum);
}

// Each of four rows' sums into out[0…3].
#define LOOPLM_STORE_FOUR_SUMS(out, a0, a1, a2, a3) \
    do {                                            \
        (out)[0] = looplm_horizontal_sum8(a0);      \
        (out)[1] = looplm_horizontal_sum8(a1);      \
        (out)[2] = looplm_horizontal_sum8(a2);      \
        (out)[3] = looplm_horizontal_sum8(a3);      \
    } while (0)
#endif
#endif
