#ifndef LOOPLM_CACHED_ATTENTION_H
#define LOOPLM_CACHED_ATTENTION_H

/// One decoded row's attention over a key/value cache, for one head: the two memory-bound
/// passes over the cached keys and values. AVX2+FMA, compiled for that target by function
/// attribute like elementwise.h: call them only when looplm_has_avx2_kernels(), and only with
/// head_size a multiple of 8. Keys and values of position j start at keys + j·stride.

/// scores[j] = scale · q·keys[j] for j in 0..<positions.
void looplm_attention_scores_avx2(const float *q, const float *keys, long stride, long positions, long head_size,
                                  float scale, float *scores);

/// y[0..<head_size] = Σ_j weights[j] · values[j] for j in 0..<positions.
void looplm_attention_weighted_sum_avx2(const float *weights, const float *values, long stride, long positions,
                                        long head_size, float *y);

#endif
