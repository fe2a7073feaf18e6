#ifndef LOOPLM_CAUSAL_ATTENTION_H
#define LOOPLM_CAUSAL_ATTENTION_H

/// Causal self-attention of one head of one sequence, forward and backward, for training and
/// prefill: every product runs only over the lower triangle (key j ≤ query i), in 6 × 16
/// register tiles read straight from the (T, 3C) qkv rows, so short heads pay neither BLAS's
/// packing nor the upper triangle's work. AVX2+FMA, compiled for that target by function
/// attribute like elementwise.h: call them only when looplm_has_avx2_kernels(), and only with
/// head_size a multiple of 16.
///
/// Rows: q, k and v of position i start at q + i·ld_qkv (and k, v likewise); dy and out rows at
/// + i·ld_y; dq, dk and dv rows at + i·ld_qkv. p and ds are T × T, row-major. `transposed` is
/// scratch of looplm_attention_scratch_floats(t, head_size) floats.
///
/// wide_tiles (backward; nonzero only when the CPU has AVX-512F and head_size is a multiple of
/// 32): the products whose columns are channels (dq = ds·k, dk = dsᵀ·q, dv = pᵀ·dy) run in
/// 6 × 32 tiles of 512-bit vectors. Each output is the same chain of fused multiply-adds either
/// way: the same bits.

/// Floats of the `transposed` scratch: head_size × T rounded up to 16.
long looplm_attention_scratch_floats(long t, long head_size);

/// p = causal softmax(scale · q·kᵀ) in row i's entries j ≤ i (the rest of the upper triangle is
/// left unspecified; the backward reads only the lower triangle); out = p · v.
void looplm_attention_forward_avx2(float *out, long ld_y, float *p, const float *q, const float *k, const float *v,
                                   long ld_qkv, long t, long head_size, float scale, float *transposed);

/// From the forward's p and the output gradient dy: ds = the scores' gradient (scratch, T × T),
/// and dq, dk, dv assigned.
void looplm_attention_backward_avx2(float *dq, float *dk, float *dv, float *ds, const float *dy, long ld_y,
                                    const float *q, const float *k, const float *v, long ld_qkv, const float *p,
                                    long t, long head_size, float scale, float *transposed, int wide_tiles);

#endif
