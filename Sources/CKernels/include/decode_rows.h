#ifndef LOOPLM_DECODE_ROWS_H
#define LOOPLM_DECODE_ROWS_H

/// Float32 products for a few rows at a time (decoding), written so that every output is the
/// same bits whichever other rows share the call: a request decoded beside others in a batch
/// gets exactly the numbers it gets alone.
///
/// looplm_rows_f32_*: y[r * ldy + j] += sum_k x[r * ldx + k] * w[k * ldw + j] for r < rows,
/// j < columns, the weights input-major (in, out). Each output is one chain of fused
/// multiply-adds in k order starting from its value in y, so the AVX2 and AVX-512 versions
/// (whose vector lanes are columns) and the scalar tails all give identical results.
void looplm_rows_f32_avx2(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                          float *y, long ldy);
void looplm_rows_f32_avx512(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                            float *y, long ldy);

/// Dot products of one float32 weight row (c values, output-major) with up to four rows of x
/// (stride c): out[r] = sum_i w[i] * x[r * c + i], in 8-lane partial sums added in a fixed order,
/// the same for every row count.
void looplm_dot_f32_avx2(const float *w, const float *x, int rows, int c, float out[4]);

/// Whether the CPU-specific versions exist in this build (x86-64 only).
int looplm_has_decode_row_kernels(void);

#endif
