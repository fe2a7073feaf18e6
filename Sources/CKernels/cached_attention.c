// Decoding's attention over the cache for AVX2+FMA (see cached_attention.h). The Swift kernels
// it replaces are baseline x86-64 (4-wide, no FMA) and run one dependent chain of adds per dot
// product, so they fell behind the memory they read once the cache grew past a few hundred
// positions.
#include "cached_attention.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

// Positions whose dot products are computed together: independent accumulators hide the FMA
// latency.
enum { positions_per_group = 4 };
// Floats of y held in registers during one pass over the values: 8 ymm accumulators.
enum { weighted_block = 64 };

AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

AVX2 void looplm_attention_scores_avx2(const float *q, const float *keys, long stride, long positions, long head_size,
                                       float scale, float *scores) {
    long j = 0;
    for (; j + positions_per_group <= positions; j += positions_per_group) {
        const float *k0 = keys + j * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (long d = 0; d < head_size; d += 8) {
            __m256 x = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k0 + d), a0);
            a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k1 + d), a1);
            a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k2 + d), a2);
            a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k3 + d), a3);
        }
        scores[j] = scale * horizontal_sum(a0);
        scores[j + 1] = scale * horizontal_sum(a1);
        scores[j + 2] = scale * horizontal_sum(a2);
        scores[j + 3] = scale * horizontal_sum(a3);
    }
    for (; j < positions; j++) {
        const float *k = keys + j * stride;
        __m256 a = _mm256_setzero_ps();
        for (long d = 0; d < head_size; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a);
        scores[j] = scale * horizontal_sum(a);
    }
}

AVX2 void looplm_attention_weighted_sum_avx2(const float *weights, const float *values, long stride, long positions,
                                             long head_size, float *y) {
    long start = 0;
    for (; start + weighted_block <= head_size; start += weighted_block) {  // 8 accumulators in registers
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        const float *row = values + start;
        for (long j = 0; j < positions; j++, row += stride) {
            __m256 w = _mm256_set1_ps(weights[j]);
            a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row), a0);
            a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8), a1);
            a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 16), a2);
            a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 24), a3);
            a4 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 32), a4);
            a5 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 40), a5);
            a6 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 48), a6);
            a7 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 56), a7);
        }
        float *out = y + start;
        _mm256_storeu_ps(out, a0); _mm256_storeu_ps(out + 8, a1); _mm256_storeu_ps(out + 16, a2);
        _mm256_storeu_ps(out + 24, a3); _mm256_storeu_ps(out + 32, a4); _mm256_storeu_ps(out + 40, a5);
        _mm256_storeu_ps(out + 48, a6); _mm256_storeu_ps(out + 56, a7);
    }
    for (; start < head_size; start += 8) {  // what is left, a vector at a time
        __m256 a = _mm256_setzero_ps();
        const float *row = values + start;
        for (long j = 0; j < positions; j++, row += stride) a = _mm256_fmadd_ps(_mm256_set1_ps(weights[j]), _mm256_loadu_ps(row), a);
        _mm256_storeu_ps(y + start, a);
    }
}

#else
void looplm_attention_scores_avx2(const float *q, const float *keys, long stride, long positions, long head_size,
                                  float scale, float *scores) {}
void looplm_attention_weighted_sum_avx2(const float *weights, const float *values, long stride, long positions,
                                        long head_size, float *y) {}
#endif
