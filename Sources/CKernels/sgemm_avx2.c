// sgemm for AVX2+FMA on the calling thread: C (m×n) = alpha·op(A)·op(B) + beta·C, row-major.
// Compiled for that target by function attribute, like elementwise.c; LoopKernels chooses it on CPUs
// with AVX2 and FMA and either no AVX-512 or AVX-512 run in 256-bit halves (Zen 4), where it was
// measured faster than OpenBLAS (SGEMMKernel.preferred); elsewhere OpenBLAS's 512-bit kernels stay.
//
// BLIS's loop structure: B is packed in KC × NC blocks (meant for L3), A in MC × KC blocks (L2), and
// a 6 × 16 micro-kernel keeps its tile of C in 12 ymm registers, so every k step is 2 loads of B,
// 6 broadcasts of A and 12 fused multiply-adds. The tile of C is prefetched when a micro-kernel
// starts and written once at its end: beta = 0 never reads C (so no zeroing pass over it, and NaNs
// left in C do not leak), and beta = 1 adds in place.
//
// The micro-kernel's loop must keep all 12 accumulators in registers: after changing it (or the
// compiler), check with objdump that the loop has no stack traffic (%rsp). One spilled accumulator
// halves its speed; a variant that only computed its depth blocks differently did exactly that.
#include "sgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include "register_transpose.h"

enum {
    MR = 6,      // rows of the micro-tile
    NR = 16,     // columns of the micro-tile: two ymm registers
    KC = 256,    // depth of a packed block: one B micro-panel (KC × NR, 16 KB) stays in L1
    MC = 72,     // rows of a packed A block (MC × KC, 72 KB) for L2
    NC = 4080,   // columns of a packed B block (KC × NC, 4 MB) for L3
    SLACK = 8,   // floats after the A block that the 8-wide stores of pack_a may overrun
};

#define AVX2 __attribute__((target("avx2,fma")))

// A block (mc × kc) from op(A) at (i0, p0) into panels of MR rows: panel r holds kc × MR floats,
// element (i, p) at p·MR + i. Rows past mc are zero.
AVX2 static void pack_a(float *dst, const float *a, long rsa, long csa, long mc, long kc) {
    if (rsa == 1) {
        // op(A) is a transposed matrix: each p is a contiguous run of mc floats (often a whole row
        // of the logits apart from the next), so read each run once and deal it out to the panels.
        long full = mc / MR;
        for (long p = 0; p < kc; p++) {
            const float *run = a + p * csa;
            float *out = dst + p * MR;
            for (long panel = 0; panel < full; panel++) {
                const float *from = run + panel * MR;
                float *to = out + panel * kc * MR;
                _mm_storeu_ps(to, _mm_loadu_ps(from));
                _mm_storel_pi((__m64 *)(to + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(from + 4)));
            }
            if (full * MR < mc) {
                float *to = out + full * kc * MR;
                for (long i = 0; i < MR; i++) to[i] = full * MR + i < mc ? run[full * MR + i] : 0.0f;
            }
        }
        return;
    }
    for (long i0 = 0; i0 < mc; i0 += MR) {
        long rows = mc - i0 < MR ? mc - i0 : MR;
        if (csa == 1 && rows == MR) {
            const float *r0 = a + i0 * rsa;
            long p = 0;
            // 8 columns at a time: transpose 6 rows (and 2 zero rows), store 8 floats per column
            // and let the next column's store overwrite the 2 extra (the buffer has slack after it).
            for (; p + 8 <= kc; p += 8) {
                __m256 r[8];
                for (long i = 0; i < MR; i++) r[i] = _mm256_loadu_ps(r0 + i * rsa + p);
                r[6] = r[7] = _mm256_setzero_ps();
                looplm_transpose8(r);
                for (long q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * MR, r[q]);
            }
            for (; p < kc; p++)
                for (long i = 0; i < MR; i++) dst[p * MR + i] = r0[i * rsa + p];
        } else {
            for (long p = 0; p < kc; p++)
                for (long i = 0; i < MR; i++) dst[p * MR + i] = i < rows ? a[(i0 + i) * rsa + p * csa] : 0.0f;
        }
        dst += kc * MR;
    }
}

// One micro-panel of B (kc × cols, cols ≤ NR) into dst: element (p, j) at p·NR + j, columns past
// cols zero.
AVX2 static void pack_b_micro_panel(float *dst, const float *b, long rsb, long csb, long kc, long cols) {
    if (csb == 1 && cols == NR) {
        for (long p = 0; p < kc; p++) {
            const float *row = b + p * rsb;
            _mm256_storeu_ps(dst + p * NR, _mm256_loadu_ps(row));
            _mm256_storeu_ps(dst + p * NR + 8, _mm256_loadu_ps(row + 8));
        }
    } else if (rsb == 1 && cols == NR) {
        long p = 0;
        for (; p + 8 <= kc; p += 8)
            for (long half = 0; half < 2; half++) {
                __m256 r[8];
                for (long j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(b + (8 * half + j) * csb + p);
                looplm_transpose8(r);
                for (long q = 0; q < 8; q++) _mm256_store_ps(dst + (p + q) * NR + 8 * half, r[q]);
            }
        for (; p < kc; p++)
            for (long j = 0; j < NR; j++) dst[p * NR + j] = b[j * csb + p];
    } else {
        for (long p = 0; p < kc; p++)
            for (long j = 0; j < NR; j++) dst[p * NR + j] = j < cols ? b[p * rsb + j * csb] : 0.0f;
    }
}

// B block (kc × nc) into panels of NR columns: element (p, j) at p·NR + j. Columns past nc are zero.
AVX2 static void pack_b(float *dst, const float *b, long rsb, long csb, long kc, long nc) {
    for (long j0 = 0; j0 < nc; j0 += NR) {
        long cols = nc - j0 < NR ? nc - j0 : NR;
        pack_b_micro_panel(dst, b + j0 * csb, rsb, csb, kc, cols);
        dst += kc * NR;
    }
}

// The same from a B stored in column panels (see looplm_sgemm_avx2_panels): the block's columns
// jc ..< jc + nc at depth pc. A micro-panel never straddles two panels (panel_width is a multiple
// of NR), so each is a (kc × cols) run with rows as long as its panel is wide.
AVX2 static void pack_b_from_panels(float *dst, const float *panels, long panel_width, long n, long k, long pc, long kc,
                                    long jc, long nc) {
    for (long j0 = 0; j0 < nc; j0 += NR) {
        long column = jc + j0, first = column / panel_width * panel_width;
        long width = n - first < panel_width ? n - first : panel_width;
        long cols = nc - j0 < NR ? nc - j0 : NR;
        const float *source = panels + first * k + pc * width + (column - first);
        pack_b_micro_panel(dst, source, width, 1, kc, cols);
        dst += kc * NR;
    }
}

// tile (MR × NR) = A panel · B panel over kc, then C = alpha·tile + beta·C on the rows × cols that exist.
AVX2 static void micro_kernel(long kc, const float *a, const float *b, float *c, long ldc, long rows, long cols,
                              float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (long i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (long p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += MR;
        b += NR;
    }
    __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (rows == MR && cols == NR) {
        for (long i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            for (long h = 0; h < 2; h++) {
                __m256 t = _mm256_mul_ps(acc[i][h], va);
                if (beta != 0.0f) t = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8 * h), t);
                _mm256_storeu_ps(ci + 8 * h, t);
            }
        }
    } else {
        float tile[MR * NR] __attribute__((aligned(32)));
        for (long i = 0; i < MR; i++) {
            _mm256_store_ps(tile + i * NR, acc[i][0]);
            _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
        }
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < cols; j++) {
                float t = alpha * tile[i * NR + j];
                c[i * ldc + j] = beta != 0.0f ? t + beta * c[i * ldc + j] : t;
            }
    }
}

// Packing space of the calling thread, allocated on its first product and freed when the thread
// exits, as BLAS libraries keep theirs: a product is too short to pay for allocating 4 MB each time.
static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;
static int workspace_key_made;

static void make_workspace_key(void) { workspace_key_made = pthread_key_create(&workspace_key, free) == 0; }

static float *workspace(void) {
    pthread_once(&workspace_once, make_workspace_key);
    if (!workspace_key_made) return 0;
    float *space = pthread_getspecific(workspace_key);
    if (!space) {
        size_t floats = (size_t)KC * (NC + NR) + (size_t)KC * (MC + MR) + SLACK;
        void *memory = 0;
        if (posix_memalign(&memory, 64, floats * sizeof(float)) != 0) return 0;
        if (pthread_setspecific(workspace_key, memory) != 0) {
            free(memory);
            return 0;
        }
        space = memory;
    }
    return space;
}

// The product, B either a matrix (panel_width 0) or column panels of panel_width (see
// looplm_sgemm_avx2_panels; transpose_b is then 0).
AVX2 static int sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha, const float *a,
                      long lda, const float *b, long ldb, long panel_width, float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return 0;
    float *space = workspace();
    if (!space) return -1;
    long rsa = transpose_a ? 1 : lda, csa = transpose_a ? lda : 1;
    long rsb = transpose_b ? 1 : ldb, csb = transpose_b ? ldb : 1;
    float *packed_b = space, *packed_a = space + (long)KC * (NC + NR);
    if (k == 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta != 0.0f ? beta * c[i * ldc + j] : 0.0f;
        return 0;
    }
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            float step_beta = pc == 0 ? beta : 1.0f;
            if (panel_width)
                pack_b_from_panels(packed_b, b, panel_width, n, k, pc, kc, jc, nc);
            else
                pack_b(packed_b, b + pc * rsb + jc * csb, rsb, csb, kc, nc);
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                pack_a(packed_a, a + ic * rsa + pc * csa, rsa, csa, mc, kc);
                for (long jr = 0; jr < nc; jr += NR) {
                    long cols = nc - jr < NR ? nc - jr : NR;
                    for (long ir = 0; ir < mc; ir += MR) {
                        long rows = mc - ir < MR ? mc - ir : MR;
                        micro_kernel(kc, packed_a + ir * kc, packed_b + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc,
                                     rows, cols, alpha, step_beta);
                    }
                }
            }
        }
    }
    return 0;
}

AVX2 int looplm_sgemm_avx2(int transpose_a, int transpose_b, long m, long n, long k, float alpha, const float *a,
                           long lda, const float *b, long ldb, float beta, float *c, long ldc) {
    return sgemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, 0, beta, c, ldc);
}

AVX2 int looplm_sgemm_avx2_panels(long m, long n, long k, float alpha, const float *a, long lda, const float *panels,
                                  long panel_width, float beta, float *c, long ldc) {
    if (panel_width <= 0 || panel_width % NR != 0) return -1;
    return sgemm(0, 0, m, n, k, alpha, a, lda, panels, 0, panel_width, beta, c, ldc);
}

#else
// Not x86-64: looplm_has_avx2_kernels() is 0 and this is never called.
int looplm_sgemm_avx2(int transpose_a, int transpose_b, long m, long n, long k, float alpha, const float *a,
                      long lda, const float *b, long ldb, float beta, float *c, long ldc) {
    return -1;
}
int looplm_sgemm_avx2_panels(long m, long n, long k, float alpha, const float *a, long lda, const float *panels,
                             long panel_width, float beta, float *c, long ldc) {
    return -1;
}
#endif
