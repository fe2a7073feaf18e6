// Times single-threaded cblas_sgemm on the matrix products of one training step of the
// reference configuration (bench preset: B·T = 1024 rows, width 384, padded vocabulary 50304),
// with whichever BLAS it is linked against, or with LoopLM's own kernel (Sources/CKernels/sgemm_avx2.c)
// when built with -DLOOPLM_KERNEL. bench/blas_compare.sh builds all three and runs them alternately.
#include <cblas.h>
#ifdef LOOPLM_KERNEL
#include "sgemm.h"
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const char *name; int transA, transB, m, n, k; } Shape;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    const int rows = 1024, width = 384, vocab = 50304;
    const Shape shapes[] = {
        {"qkv forward", 0, 0, rows, 3 * width, width},
        {"mlp up forward", 0, 0, rows, 4 * width, width},
        {"mlp down forward", 0, 0, rows, width, 4 * width},
        {"mlp up weight grad", 1, 0, width, 4 * width, rows},
        {"head forward", 0, 1, rows, vocab, width},
        {"head input grad", 0, 0, rows, width, vocab},
        {"head weight grad", 1, 0, vocab, width, rows},
    };
    const int count = sizeof shapes / sizeof shapes[0];
    const int repeats = argc > 1 ? atoi(argv[1]) : 3;
    double totalFlops = 0, totalSeconds = 0;
    for (int s = 0; s < count; s++) {
        const Shape *x = &shapes[s];
        size_t a = (size_t)x->m * x->k, b = (size_t)x->k * x->n, c = (size_t)x->m * x->n;
        float *A = malloc(a * 4), *B = malloc(b * 4), *C = malloc(c * 4);
        for (size_t i = 0; i < a; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < b; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        memset(C, 0, c * 4);
        int lda = x->transA ? x->m : x->k, ldb = x->transB ? x->k : x->n;
        double best = 1e30;
        for (int r = 0; r < repeats + 1; r++) {
            double t0 = now();
#ifdef LOOPLM_KERNEL
            looplm_sgemm_avx2(x->transA, x->transB, x->m, x->n, x->k, 1.0f, A, lda, B, ldb, 0.0f, C, x->n);
#else
            cblas_sgemm(CblasRowMajor, x->transA ? CblasTrans : CblasNoTrans, x->transB ? CblasTrans : CblasNoTrans,
                        x->m, x->n, x->k, 1.0f, A, lda, B, ldb, 0.0f, C, x->n);
#endif
            double t = now() - t0;
            if (r > 0 && t < best) best = t;
        }
        double flops = 2.0 * x->m * x->n * x->k;
        printf("%-20s %5d x %5d x %5d  %6.1f GFLOP/s\n", x->name, x->m, x->n, x->k, flops / best / 1e9);
        totalFlops += flops;
        totalSeconds += best;
        free(A); free(B); free(C);
    }
    printf("all %.1f GFLOP/s\n", totalFlops / totalSeconds / 1e9);
    return 0;
}
