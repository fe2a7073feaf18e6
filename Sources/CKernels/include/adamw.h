#ifndef LOOPLM_ADAMW_H
#define LOOPLM_ADAMW_H

/// AdamW over `count` parameters (a multiple of 8), eight at a time with AVX2, in exactly the
/// operations and order of the portable Swift kernel (`AdamWKernel`), each multiply and add
/// rounded on its own (no fused multiply-add): the two give the same bits. Call it only when the
/// CPU has AVX2.
///   scaled = g · gradient_scale
///   m ← β₁·m + (1 − β₁)·scaled;  v ← β₂·v + ((1 − β₂)·scaled)·scaled
///   p ← p·decay − (step_size·m) / (√v / correction2_root + ε)
void looplm_adamw_avx2(float *parameters, const float *gradients, float *m, float *v, long count, float gradient_scale,
                       float beta1, float beta2, float epsilon, float correction2_root, float step_size, float decay);

#endif
