// int8 dot products for decoding: AVX2+FMA versions compiled for that target by
// function attribute (no compiler flag, so the package needs no unsafeFlags); plain loops stand
// in on other architectures and for group sizes the vector loop does not take.
#include "reduced_dot.h"

static void looplm_dot_int8_portable(const int8_t *w, const float *scales, int group, const float *x, int rows, int c,
                              float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = 0;
    for (int r = 0; r < rows; r++) {
        float total = 0;
        for (int g = 0; g < c / group; g++) {
            float sum = 0;
            for (int i = g * group; i < (g + 1) * group; i++) sum += (float)w[i] * x[r * c + i];
            total += sum * scales[g];
        }
        out[r] = total;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "horizontal_sum.h"

int looplm_has_avx2_kernels(void) { return 1; }

__attribute__((target("avx2,fma"))) void looplm_dot_int8_avx2(const int8_t *w, const float *scales, int group,
                                                               const float *x, int rows, int c, float out[4]) {
    if (group % 8 != 0) {
        looplm_dot_int8_portable(w, scales, group, x, rows, c, out);
        return;
    }
    __m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
    for (int g = 0; g < c / group; g++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = g * group; i < (g + 1) * group; i += 8) {
            __m128i raw = _mm_loadl_epi64((const __m128i *)(w + i));
            __m256 wv = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw));
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), a0);
            if (rows > 1) a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + c + i), a1);
            if (rows > 2) a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + 2 * c + i), a2);
            if (rows > 3) a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + 3 * c + i), a3);
        }
        __m256 scale = _mm256_set1_ps(scales[g]);
        t0 = _mm256_fmadd_ps(a0, scale, t0);
        t1 = _mm256_fmadd_ps(a1, scale, t1);
        t2 = _mm256_fmadd_ps(a2, scale, t2);
        t3 = _mm256_fmadd_ps(a3, scale, t3);
    }
    LOOPLM_STORE_FOUR_SUMS(out, t0, t1, t2, t3);
}
#else
int looplm_has_avx2_kernels(void) { return 0; }

void looplm_dot_int8_avx2(const int8_t *w, const float *scales, int group, const float *x, int rows, int c,
                          float out[4]) {
    looplm_dot_int8_portable(w, scales, group, x, rows, c, out);
}
#endif
