// Float32 decode products whose outputs do not depend on which rows share a call (see
// decode_rows.h). AVX2 and AVX-512 versions are compiled for their targets by function
// attribute, so the package needs no unsafeFlags; callers choose at run time.
#include "decode_rows.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "horizontal_sum.h"

int looplm_has_decode_row_kernels(void) { return 1; }

// Weight rows per sweep: each sweep streams `rows_per_sweep` contiguous rows of w across the
// band and adds their terms to every output, in input order, keeping y in cache between
// sweeps. Within a sweep, `nv` vectors of columns go together so that each broadcast input
// serves several vectors.
enum { rows_per_sweep = 4 };
// With more than two rows the computation between loads leaves too few misses in flight for the
// hardware prefetchers, so each sweep fetches the weights of the next (the same columns of the
// next rows_per_sweep rows; a prefetch past the matrix is only a hint and cannot fault).
// Measured on Zen 4, one thread, 8 rows over a block's four products from memory (half their
// columns): 17.9 → 11.9 ms.

// Scalar columns (the band's ragged end): the same chain of fused multiply-adds per output.
__attribute__((target("fma"))) static void tail_columns(const float *w, long ldw, const float *x, long ldx, int rows,
                                                         int c, int first, int columns, float *y, long ldy) {
    for (int j = first; j < columns; j++)
        for (int r = 0; r < rows; r++) {
            float acc = y[r * ldy + j];
            for (int k = 0; k < c; k++) acc = fmaf(x[r * ldx + k], w[k * ldw + j], acc);
            y[r * ldy + j] = acc;
        }
}

// One sweep of `kb` weight rows (a compile-time constant after inlining) over columns
// [j, j + nv · WIDTH) steps for every row of x; returns the first column it left.
#define DEFINE_SWEEP(NAME, TARGET, VEC, WIDTH, LOAD, STORE, FMA, SET1)                                             \
    __attribute__((target(TARGET), always_inline)) static inline int NAME(const float *w, long ldw, const float *x, \
                                                                          long ldx, int rows, int kb, int nv,      \
                                                                          int j, int columns, float *y, long ldy) { \
        for (; j + nv * WIDTH <= columns; j += nv * WIDTH) {                                                         \
            VEC wv[rows_per_sweep][4];                                                                               \
            for (int i = 0; i < kb; i++) {                                                                           \
                for (int v = 0; v < nv; v++) wv[i][v] = LOAD(w + i * ldw + j + v * WIDTH);                           \
                if (rows > 2)                                                                                        \
                    for (int v = 0; v < nv; v++)                                                                     \
                        _mm_prefetch((const char *)(w + (i + rows_per_sweep) * ldw + j + v * WIDTH), _MM_HINT_T0);     \
            }                                                                                                        \
            for (int r = 0; r < rows; r++) {                                                                         \
                VEC acc[4];                                                                                          \
                for (int v = 0; v < nv; v++) acc[v] = LOAD(y + r * ldy + j + v * WIDTH);                             \
                const float *xr = x + r * ldx;                                                                       \
                for (int i = 0; i < kb; i++) {                                                                       \
                    VEC b = SET1(xr[i]);                                                                             \
                    for (int v = 0; v < nv; v++) acc[v] = FMA(b, wv[i][v], acc[v]);                                 \
                }                                                                                                    \
                for (int v = 0; v < nv; v++) STORE(y + r * ldy + j + v * WIDTH, acc[v]);                             \
            }                                                                                                        \
        }                                                                                                            \
        return j;                                                                                                    \
    }

// Columns go `NV` vectors at a time, then one; the scalar tail comes after all sweeps.
#define DEFINE_ROWS(NAME, SWEEP, TARGET, NV)                                                                         \
    __attribute__((target(TARGET))) void NAME(const float *w, long ldw, const float *x, long ldx, int rows, int c,   \
                                              int columns, float *y, long ldy) {                                     \
        if (c == 0) return;                                                                                          \
        int vector_columns = 0;                                                                                      \
        {                                                                                                            \
            int first = 0, end = columns, k = 0;                                                                     \
            for (; k + rows_per_sweep <= c; k += rows_per_sweep) {                                                   \
                int j = SWEEP(w + k * ldw, ldw, x + k, ldx, rows, rows_per_sweep, NV, first, end, y, ldy);           \
                vector_columns = SWEEP(w + k * ldw, ldw, x + k, ldx, rows, rows_per_sweep, 1, j, end, y, ldy);       \
            }                                                                                                        \
            for (; k < c; k++) {                                                                                     \
                int j = SWEEP(w + k * ldw, ldw, x + k, ldx, rows, 1, NV, first, end, y, ldy);                        \
                vector_columns = SWEEP(w + k * ldw, ldw, x + k, ldx, rows, 1, 1, j, end, y, ldy);                    \
            }                                                                                                        \
        }                                                                                                            \
        tail_columns(w, ldw, x, ldx, rows, c, vector_columns, columns, y, ldy);                                      \
    }

DEFINE_SWEEP(sweep_avx2, "avx2,fma", __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_set1_ps)
DEFINE_ROWS(looplm_rows_f32_avx2, sweep_avx2, "avx2,fma", 2)
DEFINE_SWEEP(sweep_avx512, "avx512f,fma", __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps,
             _mm512_set1_ps)
DEFINE_ROWS(looplm_rows_f32_avx512, sweep_avx512, "avx512f,fma", 4)

__attribute__((target("avx2,fma"))) void looplm_dot_f32_avx2(const float *w, const float *x, int rows, int c,
                                                              float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 8 <= c; i += 8) {
        __m256 wv = _mm256_loadu_ps(w + i);
        LOOPLM_FMA_FOUR_ROWS(wv, x, c, i, rows, a0, a1, a2, a3);
    }
    LOOPLM_STORE_FOUR_SUMS(out, a0, a1, a2, a3);
    for (; i < c; i++)
        for (int r = 0; r < rows; r++) out[r] = fmaf(w[i], x[r * c + i], out[r]);
}
#else
int looplm_has_decode_row_kernels(void) { return 0; }

static void rows_portable(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,
                          long ldy) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < columns; j++) {
            float acc = y[r * ldy + j];
            for (int k = 0; k < c; k++) acc = fmaf(x[r * ldx + k], w[k * ldw + j], acc);
            y[r * ldy + j] = acc;
        }
}

void looplm_rows_f32_avx2(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,
                          long ldy) {
    rows_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_rows_f32_avx512(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                            float *y, long ldy) {
    rows_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_dot_f32_avx2(const float *w, const float *x, int rows, int c, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < c; i++) out[r] = fmaf(w[i], x[r * c + i], out[r]);
}
#endif
