#ifndef LOOPLM_DECODE_ROWS_H
#define LOOPLM_DECODE_ROWS_H

#include <stdint.h>

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

/// The same products with bfloat16 weights (widened exactly to float32 before each multiply-add):
/// every version, the portable one included, gives identical results.
void looplm_rows_bf16_avx2(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                           float *y, long ldy);
void looplm_rows_bf16_avx512(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                             float *y, long ldy);
void looplm_rows_bf16_portable(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                               float *y, long ldy);

/// y[r * ldy + j] += sum_i w[j * c + i] * x[r * c + i] for r < rows, j < outputs: the weights
/// output-major (outputs, c), each dot product summed in a fixed order whatever the row count,
/// the same in both versions (the AVX-512 one only holds more rows in registers).
void looplm_output_major_f32_avx2(const float *w, const float *x, int rows, int c, int outputs, float *y, long ldy);
void looplm_output_major_f32_avx512(const float *w, const float *x, int rows, int c, int outputs, float *y,
                                    long ldy);

/// Whether the CPU-specific versions exist in this build (x86-64 only).
int looplm_has_decode_row_kernels(void);

#endif
