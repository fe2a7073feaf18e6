#ifndef LOOPLM_CACHED_ATTENTION_H
#define LOOPLM_CACHED_ATTENTION_H

/// One decoded row's attention over a key/value cache, every head at once: the two memory-bound
/// passes over the cached keys and values. AVX2+FMA, compiled for that target by function
/// attribute like elementwise.h: call them only when looplm_has_avx2_kernels(), and only with
/// head_size a multiple of 8. The keys and values of position j start at keys + j·stride, head h
/// of a row (and of q and y) at + h·head_size.
///
/// scores[h · scores_stride + j] = scale · q_h·keys[j]_h for h < heads, j < positions, each a
/// chain of fused multiply-adds over 8 lanes then summed across them in a fixed order.
/// The weighted sum adds into y (zero it first): y_h += Σ_j weights[h · weights_stride + j] ·
/// values[j]_h, one chain of fused multiply-adds in j order per output.
void looplm_attention_scores_heads_avx2(const float *q, const float *keys, long stride, long positions,
                                        long head_size, long heads, float scale, float *scores, long scores_stride);
void looplm_attention_weighted_sum_heads_avx2(const float *weights, long weights_stride, const float *values,
                                              long stride, long positions, long head_size, long heads, float *y);

#endif
