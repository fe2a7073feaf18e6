// Shared by the kernels that finish a row with a partial vector: the first lanes of a ymm
// register as a mask for maskload and maskstore.
#ifndef LOOPLM_LANE_MASK_H
#define LOOPLM_LANE_MASK_H
#if defined(__x86_64__)
#include <immintrin.h>

// Lanes i < count as all-ones, the rest zero: every lane when count ≥ 8, none when count ≤ 0.
__attribute__((target("avx2,fma"))) static inline __m256i looplm_first_lanes(long count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif
#endif
