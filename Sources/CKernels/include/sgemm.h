#ifndef LOOPLM_SGEMM_H
#define LOOPLM_SGEMM_H

/// C (m × n) = alpha · op(A) · op(B) + beta · C, row-major, on the calling thread, with AVX2 and FMA:
/// op(A) is m × k (A stored k × m when transpose_a), op(B) is k × n (B stored n × k when transpose_b).
/// With beta = 0, C is written without being read. Call it only when looplm_has_avx2_kernels() and
/// the CPU has AVX2 and FMA. Returns 0, or -1 when the thread's packing space (about 4.3 MB, kept
/// for the thread's life) cannot be allocated; C is then untouched.
int looplm_sgemm_avx2(int transpose_a, int transpose_b, long m, long n, long k, float alpha, const float *a,
                      long lda, const float *b, long ldb, float beta, float *c, long ldc);

/// The same product with A not transposed and B (k × n) stored in column panels: columns
/// [p·panel_width, (p+1)·panel_width) form panel p, a (k × width) row-major matrix starting at
/// panels + p·panel_width·k, the last panel narrower when n is not a multiple of panel_width (the
/// layout of LoopLM's inference copies, Panels.swift). One call packs A once for all the panels.
/// panel_width must be a positive multiple of 16. Returns 0, or -1 (C untouched) when the packing
/// space cannot be allocated or panel_width is not such a multiple.
int looplm_sgemm_avx2_panels(long m, long n, long k, float alpha, const float *a, long lda, const float *panels,
                             long panel_width, float beta, float *c, long ldc);

#endif
