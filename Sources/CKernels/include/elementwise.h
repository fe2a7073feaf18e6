#ifndef LOOPLM_ELEMENTWISE_H
#define LOOPLM_ELEMENTWISE_H

/// Elementwise kernels of training whose cost is arithmetic rather than memory: the softmax of
/// the cross-entropy (an exponential per logit, 51 M logits a step at the reference size) and
/// GELU (a tanh per MLP activation). AVX2+FMA versions compiled for that target by function
/// attribute, like reduced_dot.h: call them only when looplm_has_avx2_kernels() and the CPU
/// has AVX2 and FMA; LoopKernels decides once, at run time, and uses its Swift kernels
/// otherwise. The exponential is the Swift kernels' (Cody–Waite reduction, Cephes polynomial),
/// evaluated with fused multiply–adds.

/// The maximum of x[0..<count] and the sum of exp(x[i] − max), reading x once (blocks that fit
/// in L1 are read twice). count ≥ 1.
void looplm_softmax_max_sum_avx2(const float *x, long count, float *max, float *sum);

/// x[i] ← exp(x[i] − max) · factor for i < count.
void looplm_softmax_scale_avx2(float *x, long count, float max, float factor);

/// x[i] ← exp(x[i] − max) for i < count, with max and the sum as looplm_softmax_max_sum_avx2
/// gives them, and the exponentials as looplm_softmax_scale_avx2(x, count, max, 1) stores them
/// (the same bits): rows of up to 1,024 compute each exponential once. count ≥ 1.
void looplm_softmax_exponentiate_avx2(float *x, long count, float *max, float *sum);

/// out[i] = GELU(inp[i]) with the tanh approximation.
void looplm_gelu_forward_avx2(float *out, const float *inp, long count);

/// dinp[i] = dout[i] · GELU′(inp[i]); dinp may be dout.
void looplm_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, long count);

#endif
