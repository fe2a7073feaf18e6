// Decoding's attention over the cache for AVX2+FMA (see cached_attention.h). The Swift kernels
// it replaces are baseline x86-64 (4-wide, no FMA) and run one dependent chain of adds per dot
// product, so they fell behind the memory they read once the cache grew past a few hundred
// positions.
//
// Both passes take every head of a row at once and walk the cache one position at a time, so
// that it streams through memory in order (a position's heads lie side by side in its row).
// Walking it head by head, as before, read one 256-byte piece of every 3 KB row per head (GPT-2
// 124M), which the prefetchers followed badly: on Zen 4, one thread, 12 layers over 576 cached
// positions, 3.8–4.7 ms head by head against 2.3–2.6 ms in one walk, with the same bits. Two
// threads must not split a row by heads (each walking half of every row ran slower than head by
// head: each core's prefetcher runs on into the other's half); they split it by positions
// (CachedAttention.swift).
#include "cached_attention.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "horizontal_sum.h"

#define AVX2 __attribute__((target("avx2,fma")))

// Heads whose dot products with one cached key are computed together: independent accumulators
// hide the FMA latency.
enum { heads_per_group = 4 };

// One head's dot product of q and k (head_size a multiple of 8), as every score is computed.
AVX2 static inline __m256 head_dot(const float *q, const float *k, long head_size) {
    __m256 a = _mm256_setzero_ps();
    for (long d = 0; d < head_size; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), a);
    return a;
}

AVX2 void looplm_attention_scores_heads_avx2(const float *q, const float *keys, long stride, long positions,
                                             long head_size, long heads, float scale, float *scores, long scores_stride) {
    for (long j = 0; j < positions; j++) {
        const float *k = keys + j * stride;
        long h = 0;
        for (; h + heads_per_group <= heads; h += heads_per_group) {
            const float *qh = q + h * head_size, *kh = k + h * head_size;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (long d = 0; d < head_size; d += 8) {  // head_dot for four heads at once
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), _mm256_loadu_ps(kh + d), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + head_size + d), _mm256_loadu_ps(kh + head_size + d), a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 2 * head_size + d), _mm256_loadu_ps(kh + 2 * head_size + d), a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 3 * head_size + d), _mm256_loadu_ps(kh + 3 * head_size + d), a3);
            }
            scores[h * scores_stride + j] = scale * looplm_horizontal_sum8(a0);
            scores[(h + 1) * scores_stride + j] = scale * looplm_horizontal_sum8(a1);
            scores[(h + 2) * scores_stride + j] = scale * looplm_horizontal_sum8(a2);
            scores[(h + 3) * scores_stride + j] = scale * looplm_horizontal_sum8(a3);
        }
        for (; h < heads; h++)
            scores[h * scores_stride + j] = scale * looplm_horizontal_sum8(head_dot(q + h * head_size, k + h * head_size, head_size));
    }
}

AVX2 void looplm_attention_weighted_sum_heads_avx2(const float *weights, long weights_stride, const float *values,
                                             long stride, long positions, long head_size, long heads, float *y) {
    for (long j = 0; j < positions; j++) {
        const float *v = values + j * stride;
        for (long h = 0; h < heads; h++) {
            const __m256 w = _mm256_set1_ps(weights[h * weights_stride + j]);
            for (long d = h * head_size; d < (h + 1) * head_size; d += 8)
                _mm256_storeu_ps(y + d, _mm256_fmadd_ps(w, _mm256_loadu_ps(v + d), _mm256_loadu_ps(y + d)));
        }
    }
}

#else
void looplm_attention_scores_heads_avx2(const float *q, const float *keys, long stride, long positions, long head_size,
                                        long heads, float scale, float *scores, long scores_stride) {}
void looplm_attention_weighted_sum_heads_avx2(const float *weights, long weights_stride, const float *values,
                                              long stride, long positions, long head_size, long heads, float *y) {}
#endif
