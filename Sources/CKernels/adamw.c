// The AVX2 AdamW update of adamw.h.
#include "adamw.h"
#include <math.h>

// Every multiply and add rounds on its own, as in the Swift loop: never fused, whatever flags.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) void looplm_adamw_avx2(float *parameters, const float *gradients, float *m, float *v,
                                                        long count, float gradient_scale, float beta1, float beta2,
                                                        float epsilon, float correction2_root, float step_size,
                                                        float decay) {
    const __m256 scale = _mm256_set1_ps(gradient_scale), b1 = _mm256_set1_ps(beta1), b2 = _mm256_set1_ps(beta2);
    const __m256 one_minus_b1 = _mm256_set1_ps(1 - beta1), one_minus_b2 = _mm256_set1_ps(1 - beta2);
    const __m256 root = _mm256_set1_ps(correction2_root), eps = _mm256_set1_ps(epsilon);
    const __m256 step = _mm256_set1_ps(step_size), keep = _mm256_set1_ps(decay);
    for (long i = 0; i + 8 <= count; i += 8) {
        __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(gradients + i), scale);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(one_minus_b1, scaled));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(one_minus_b2, scaled), scaled));
        __m256 denominator = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), root), eps);
        __m256 p = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(parameters + i), keep),
                                 _mm256_div_ps(_mm256_mul_ps(step, mi), denominator));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(parameters + i, p);
    }
}
#else
// The same update one parameter at a time, where there is no AVX2 (not x86).
static void adamw_portable(float *parameters, const float *gradients, float *m, float *v, long count,
                           float gradient_scale, float beta1, float beta2, float epsilon, float correction2_root,
                           float step_size, float decay) {
    for (long i = 0; i < count; i++) {
        float scaled = gradients[i] * gradient_scale;
        float mi = beta1 * m[i] + (1 - beta1) * scaled;
        float vi = beta2 * v[i] + ((1 - beta2) * scaled) * scaled;
        float denominator = sqrtf(vi) / correction2_root + epsilon;
        m[i] = mi;
        v[i] = vi;
        parameters[i] = parameters[i] * decay - (step_size * mi) / denominator;
    }
}

void looplm_adamw_avx2(float *parameters, const float *gradients, float *m, float *v, long count, float gradient_scale,
                       float beta1, float beta2, float epsilon, float correction2_root, float step_size, float decay) {
    adamw_portable(parameters, gradients, m, v, count, gradient_scale, beta1, beta2, epsilon, correction2_root,
                   step_size, decay);
}
#endif
