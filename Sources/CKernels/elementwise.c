// Softmax and GELU kernels for AVX2+FMA, compiled for that target by function attribute (see
// elementwise.h). Elsewhere the functions exist but must not be called (LoopKernels checks).
#include "elementwise.h"
#include "reduced_dot.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include "horizontal_sum.h"
#include "lane_mask.h"
#include "vector_exp.h"

#define AVX2 __attribute__((target("avx2,fma")))

// Blocks of the softmax row small enough to stay in L1 between its two reads.
enum { softmax_block = 1024 };
// GELU: sqrt(2/pi) and the cubic coefficient of the tanh approximation.
static const float gelu_scale = 0.7978845608028654f, gelu_cubic = 0.044715f;

AVX2 static inline float exp1(float x) { return _mm256_cvtss_f32(looplm_exp8(_mm256_set1_ps(x))); }

// One block of a softmax row (length ≤ softmax_block): its maximum and the sum of
// exp(p[i] − maximum); with `out` (a constant after inlining), each of those exponentials is also
// stored to out[i]. The sum takes the same vectors in the same order either way.
AVX2 static inline __attribute__((always_inline)) void block_max_sum(const float *p, float *out, long length,
                                                                      float *block_max, float *block_sum) {
    long vectors = length / 8;
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    long v = 0;
    for (; v + 1 < vectors; v += 2) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + v * 8));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(p + v * 8 + 8));
    }
    if (v < vectors) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + v * 8));
    float max = looplm_horizontal_max8(_mm256_max_ps(m0, m1));
    for (long i = vectors * 8; i < length; i++) max = p[i] > max ? p[i] : max;
    __m256 shift = _mm256_set1_ps(max), s0 = _mm256_setzero_ps(), s1 = s0;
    for (v = 0; v + 3 < vectors; v += 4) {  // four exponentials interleaved (see looplm_exp8_many)
        __m256 e[4];
        for (int j = 0; j < 4; j++) e[j] = _mm256_sub_ps(_mm256_loadu_ps(p + (v + j) * 8), shift);
        looplm_exp8_many(e, 4);
        if (out)
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(out + (v + j) * 8, e[j]);
        s0 = _mm256_add_ps(s0, e[0]);
        s1 = _mm256_add_ps(s1, e[1]);
        s0 = _mm256_add_ps(s0, e[2]);
        s1 = _mm256_add_ps(s1, e[3]);
    }
    for (; v + 1 < vectors; v += 2) {
        __m256 e0 = looplm_exp8(_mm256_sub_ps(_mm256_loadu_ps(p + v * 8), shift));
        __m256 e1 = looplm_exp8(_mm256_sub_ps(_mm256_loadu_ps(p + v * 8 + 8), shift));
        if (out) {
            _mm256_storeu_ps(out + v * 8, e0);
            _mm256_storeu_ps(out + v * 8 + 8, e1);
        }
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    if (v < vectors) {
        __m256 e = looplm_exp8(_mm256_sub_ps(_mm256_loadu_ps(p + v * 8), shift));
        if (out) _mm256_storeu_ps(out + v * 8, e);
        s0 = _mm256_add_ps(s0, e);
    }
    float sum = looplm_horizontal_sum8(_mm256_add_ps(s0, s1));
    for (long i = vectors * 8; i < length; i++) {
        float e = exp1(p[i] - max);
        if (out) out[i] = e;
        sum += e;
    }
    *block_max = max;
    *block_sum = sum;
}

// Folds one block's maximum and sum into the row's running ones.
AVX2 static inline void fold_block(float *running_max, float *running_sum, float block_max, float block_sum) {
    if (block_max > *running_max) {
        *running_sum = *running_sum * exp1(*running_max - block_max) + block_sum;
        *running_max = block_max;
    } else {
        *running_sum += block_sum * exp1(block_max - *running_max);
    }
}

AVX2 void looplm_softmax_max_sum_avx2(const float *x, long count, float *max, float *sum) {
    *max = -INFINITY;
    *sum = 0;
    for (long start = 0; start < count; start += softmax_block) {
        long length = count - start < softmax_block ? count - start : softmax_block;
        float block_max, block_sum;
        block_max_sum(x + start, 0, length, &block_max, &block_sum);
        fold_block(max, sum, block_max, block_sum);
    }
}

AVX2 void looplm_softmax_exponentiate_avx2(float *x, long count, float *max, float *sum) {
    if (count > softmax_block) {  // several blocks: their maxima differ, so exponentiate after them all
        looplm_softmax_max_sum_avx2(x, count, max, sum);
        looplm_softmax_scale_avx2(x, count, *max, 1);
        return;
    }
    float block_max, block_sum;
    block_max_sum(x, x, count, &block_max, &block_sum);
    *max = -INFINITY;
    *sum = 0;
    fold_block(max, sum, block_max, block_sum);  // as looplm_softmax_max_sum_avx2 does: the same bits
}

AVX2 void looplm_softmax_scale_avx2(float *x, long count, float max, float factor) {
    __m256 shift = _mm256_set1_ps(max), scale = _mm256_set1_ps(factor);
    long vectors = count / 8, v = 0;
    for (; v + 3 < vectors; v += 4) {  // four exponentials interleaved (see looplm_exp8_many)
        __m256 e[4];
        for (int j = 0; j < 4; j++) e[j] = _mm256_sub_ps(_mm256_loadu_ps(x + (v + j) * 8), shift);
        looplm_exp8_many(e, 4);
        for (int j = 0; j < 4; j++) _mm256_storeu_ps(x + (v + j) * 8, _mm256_mul_ps(e[j], scale));
    }
    for (; v < vectors; v++) {
        float *p = x + v * 8;
        _mm256_storeu_ps(p, _mm256_mul_ps(looplm_exp8(_mm256_sub_ps(_mm256_loadu_ps(p), shift)), scale));
    }
    for (long i = vectors * 8; i < count; i++) x[i] = exp1(x[i] - max) * factor;
}

// GELU and its derivative of `count` vectors in place, each step for all of them before the next
// (see looplm_exp8_many): four at a time ran GELU 1.6× faster on Zen 4, with the same bits. Both
// take tanh(u) as 1 − 2 / (exp(2u) + 1), which saturates correctly at both ends.
enum { gelu_vectors = 4 };
_Static_assert(gelu_vectors <= looplm_exp8_most_vectors, "one looplm_exp8_many call per group of vectors");

AVX2 static inline __attribute__((always_inline)) void gelu_many(__m256 *x, int count) {
    __m256 e[gelu_vectors], one = _mm256_set1_ps(1.0f);
    for (int j = 0; j < count; j++) {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x[j], x[j]), x[j]);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(gelu_scale), _mm256_fmadd_ps(_mm256_set1_ps(gelu_cubic), x3, x[j]));
        e[j] = _mm256_add_ps(u, u);
    }
    looplm_exp8_many(e, count);
    for (int j = 0; j < count; j++) {
        __m256 tanh = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e[j], one)));
        __m256 half_x = _mm256_mul_ps(_mm256_set1_ps(0.5f), x[j]);
        x[j] = _mm256_fmadd_ps(half_x, tanh, half_x);
    }
}

AVX2 static inline __attribute__((always_inline)) void gelu_derivative_many(__m256 *x, int count) {
    __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), xx[gelu_vectors], e[gelu_vectors];
    for (int j = 0; j < count; j++) {
        xx[j] = _mm256_mul_ps(x[j], x[j]);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(gelu_scale),
                                 _mm256_fmadd_ps(_mm256_set1_ps(gelu_cubic), _mm256_mul_ps(xx[j], x[j]), x[j]));
        e[j] = _mm256_add_ps(u, u);
    }
    looplm_exp8_many(e, count);
    for (int j = 0; j < count; j++) {
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e[j], one)));
        __m256 du = _mm256_mul_ps(_mm256_set1_ps(gelu_scale), _mm256_fmadd_ps(_mm256_set1_ps(3.0f * gelu_cubic), xx[j], one));
        __m256 sech2 = _mm256_fnmadd_ps(t, t, one);
        x[j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x[j]), sech2), du, _mm256_mul_ps(half, _mm256_add_ps(one, t)));
    }
}

AVX2 void looplm_gelu_forward_avx2(float *out, const float *inp, long count) {
    long v = 0;
    for (; v + 8 * gelu_vectors <= count; v += 8 * gelu_vectors) {
        __m256 x[gelu_vectors];
        for (int j = 0; j < gelu_vectors; j++) x[j] = _mm256_loadu_ps(inp + v + 8 * j);
        gelu_many(x, gelu_vectors);
        for (int j = 0; j < gelu_vectors; j++) _mm256_storeu_ps(out + v + 8 * j, x[j]);
    }
    for (; v < count; v += 8) {
        __m256i lanes = looplm_first_lanes(count - v);
        __m256 x = _mm256_maskload_ps(inp + v, lanes);
        gelu_many(&x, 1);
        _mm256_maskstore_ps(out + v, lanes, x);
    }
}

AVX2 void looplm_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, long count) {
    long v = 0;
    for (; v + 8 * gelu_vectors <= count; v += 8 * gelu_vectors) {
        __m256 x[gelu_vectors];
        for (int j = 0; j < gelu_vectors; j++) x[j] = _mm256_loadu_ps(inp + v + 8 * j);
        gelu_derivative_many(x, gelu_vectors);
        for (int j = 0; j < gelu_vectors; j++)
            _mm256_storeu_ps(dinp + v + 8 * j, _mm256_mul_ps(x[j], _mm256_loadu_ps(dout + v + 8 * j)));
    }
    for (; v < count; v += 8) {
        __m256i lanes = looplm_first_lanes(count - v);
        __m256 x = _mm256_maskload_ps(inp + v, lanes);
        gelu_derivative_many(&x, 1);
        _mm256_maskstore_ps(dinp + v, lanes, _mm256_mul_ps(x, _mm256_maskload_ps(dout + v, lanes)));
    }
}

#else
// Not x86-64: looplm_has_avx2_kernels() is 0 and these are never called.
void looplm_softmax_max_sum_avx2(const float *x, long count, float *max, float *sum) { *max = 0; *sum = 0; }
void looplm_softmax_scale_avx2(float *x, long count, float max, float factor) {}
void looplm_softmax_exponentiate_avx2(float *x, long count, float *max, float *sum) { *max = 0; *sum = 0; }
void looplm_gelu_forward_avx2(float *out, const float *inp, long count) {}
void looplm_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, long count) {}
#endif
