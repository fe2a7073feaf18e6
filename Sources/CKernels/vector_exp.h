// Shared by the softmax and GELU kernels: exp of eight floats, or of up to four vectors of them
// interleaved (Cody–Waite range reduction and the Cephes polynomial, the Swift kernels'
// VectorMath.exp evaluated with fused multiply-adds), and the maximum of a ymm register's eight
// floats.
#ifndef LOOPLM_VECTOR_EXP_H
#define LOOPLM_VECTOR_EXP_H
#if defined(__x86_64__)
#include <immintrin.h>

// exp underflows to denormals below the lower bound and overflows above the upper one.
static const float exp_lower_bound = -87.3f, exp_upper_bound = 88.3f;
static const float log2e = 1.44269504088896341f, ln2_high = 0.693359375f, ln2_low = -2.12194440e-4f;
// Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
static const float rounding_magic = 12582912.0f;
static const int rounding_magic_bits = 0x4B400000, exponent_bias = 127;
// exp of `count` vectors in place, each step for all of them before the next: the steps of one
// vector form a chain of about 60 cycles of latency, more than the out-of-order window covers, so
// one vector at a time runs at a third of the FMA units' rate (GELU on Zen 4: 29 cycles per 8
// floats). With count (at most looplm_exp8_most_vectors) a constant after inlining, the chains interleave. Every lane goes through
// the same operations whatever the count, so the results are the same bits.
enum { looplm_exp8_most_vectors = 4 };  // the most vectors one looplm_exp8_many call takes

__attribute__((target("avx2,fma"), always_inline)) static inline void looplm_exp8_many(__m256 *v, int count) {
    __m256 shifted[looplm_exp8_most_vectors], n[looplm_exp8_most_vectors], r[looplm_exp8_most_vectors],
        p[looplm_exp8_most_vectors];
    for (int j = 0; j < count; j++) {
        __m256 x = _mm256_max_ps(_mm256_min_ps(v[j], _mm256_set1_ps(exp_upper_bound)), _mm256_set1_ps(exp_lower_bound));
        shifted[j] = _mm256_fmadd_ps(x, _mm256_set1_ps(log2e), _mm256_set1_ps(rounding_magic));
        n[j] = _mm256_sub_ps(shifted[j], _mm256_set1_ps(rounding_magic));
        r[j] = _mm256_fnmadd_ps(n[j], _mm256_set1_ps(ln2_high), x);
    }
    for (int j = 0; j < count; j++) r[j] = _mm256_fnmadd_ps(n[j], _mm256_set1_ps(ln2_low), r[j]);
    for (int j = 0; j < count; j++) p[j] = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r[j], _mm256_set1_ps(1.3981999507e-3f));
    for (int j = 0; j < count; j++) p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(8.3334519073e-3f));
    for (int j = 0; j < count; j++) p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(4.1665795894e-2f));
    for (int j = 0; j < count; j++) p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(1.6666665459e-1f));
    for (int j = 0; j < count; j++) p[j] = _mm256_fmadd_ps(p[j], r[j], _mm256_set1_ps(5.0000001201e-1f));
    for (int j = 0; j < count; j++) {
        __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p[j], _mm256_mul_ps(r[j], r[j]), r[j]), _mm256_set1_ps(1.0f));
        __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted[j]), _mm256_set1_epi32(rounding_magic_bits));
        __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(exponent_bias)), 23));
        v[j] = _mm256_mul_ps(y, scale);
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 looplm_exp8(__m256 input) {
    looplm_exp8_many(&input, 1);
    return input;
}

__attribute__((target("avx2,fma"))) static inline float looplm_horizontal_max8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}
#endif
#endif
