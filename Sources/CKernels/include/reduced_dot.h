#ifndef LOOPLM_REDUCED_DOT_H
#define LOOPLM_REDUCED_DOT_H
#include <stdint.h>

/// Dot products of one int8 weight row with up to four float32 rows of x
/// (stride c): out[r] = sum_i w[i] * x[r * c + i] for r < rows, using AVX2 and FMA. Compiled for
/// that target by function attribute, so the rest of the package stays baseline x86-64: call
/// them only when the CPU has AVX2 and FMA (LoopKernels decides once, at run time, and uses its
/// portable Swift kernels otherwise), so one binary serves every x86 machine.

/// w in int8 with one float scale per group of `group` inputs (c a multiple of group).
void looplm_dot_int8_avx2(const int8_t *w, const float *scales, int group, const float *x, int rows, int c,
                          float out[4]);

/// Whether this build has the AVX2 versions (x86-64 only; elsewhere plain loops stand in).
int looplm_has_avx2_kernels(void);

#endif
