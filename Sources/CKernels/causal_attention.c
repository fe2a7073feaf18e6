// Causal attention of one head in 6 × 16 register tiles, or 6 × 32 in 512-bit vectors for the
// backward's products over channels (see causal_attention.h).
//
// Only the lower triangle of p and ds is computed and read. Above it, within each 6-row block's
// diagonal square, the entries are set to zero, because a block's products sum over all of its
// keys (and dk, dv over all of a block's queries); the rest of the upper triangle is neither
// written nor read.
//
// Every product of attention is small (T × T × head_size per head) and half of it is the upper
// triangle, where the causal mask makes the result zero. Here each product runs over row blocks
// of 6 queries and stops at the block's last key, and the tiles read their operands where they
// lie (rows of q, k, v, dy, p, ds) instead of packing them: only kᵀ and vᵀ are copied, once per
// head, so that 16 keys are one contiguous pair of vectors. Each output is one chain of fused
// multiply-adds in the order of the summed index.
//
// The tile's loop must keep its 12 accumulators in registers: after changing it, check with
// objdump that the loop has no stack traffic (%rsp).
#include "causal_attention.h"
#include "horizontal_sum.h"
#include "lane_mask.h"
#include "register_transpose.h"
#include "vector_exp.h"

enum {
    TILE_ROWS = 6,      // queries (or keys) per register tile
    TILE_COLUMNS = 16,  // two ymm registers of outputs
    WIDE_COLUMNS = 32,  // two zmm registers of outputs
};

long looplm_attention_scratch_floats(long t, long head_size) {
    return head_size * ((t + TILE_COLUMNS - 1) / TILE_COLUMNS * TILE_COLUMNS);
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define WIDE __attribute__((target("avx512f,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

// acc (6 × 2·WIDTH) = Σ_{p0 ≤ p < p1} A(r, p) · B(p, 0..<2·WIDTH), where A(r, p) = a[r][p · a_step]
// and row p of B starts at b + p · ldb: 12 accumulators of two vectors per row. `tile` is 6 × 16
// in ymm registers (AVX2); `tile_wide` 6 × 32 in zmm (AVX-512F), for the backward's products
// whose columns are channels (head_size a multiple of 32): each broadcast and each pass over A
// then serves 32 columns instead of 16, and dk and dv, which read A down the columns of ds and p,
// pass over those T × T squares half as often. (The forward's p · v gained nothing from it on
// Zen 4, so it keeps the 6 × 16 tiles.)
#define DEFINE_TILE(NAME, TARGET, VEC, WIDTH, ZERO, LOAD, SET1, FMA)                                               \
    TARGET INLINE void NAME(VEC acc[2 * TILE_ROWS], const float *const a[TILE_ROWS], long a_step, const float *b, \
                            long ldb, long p0, long p1) {                                                          \
        VEC c00 = ZERO(), c01 = ZERO(), c10 = ZERO(), c11 = ZERO(), c20 = ZERO(), c21 = ZERO(), c30 = ZERO(),      \
            c31 = ZERO(), c40 = ZERO(), c41 = ZERO(), c50 = ZERO(), c51 = ZERO();                                  \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];                        \
        const float *bp = b + p0 * ldb;                                                                            \
        long offset = p0 * a_step;                                                                                 \
        for (long p = p0; p < p1; p++) {                                                                           \
            VEC b0 = LOAD(bp), b1 = LOAD(bp + WIDTH), x;                                                           \
            x = SET1(a0[offset]); c00 = FMA(x, b0, c00); c01 = FMA(x, b1, c01);                                    \
            x = SET1(a1[offset]); c10 = FMA(x, b0, c10); c11 = FMA(x, b1, c11);                                    \
            x = SET1(a2[offset]); c20 = FMA(x, b0, c20); c21 = FMA(x, b1, c21);                                    \
            x = SET1(a3[offset]); c30 = FMA(x, b0, c30); c31 = FMA(x, b1, c31);                                    \
            x = SET1(a4[offset]); c40 = FMA(x, b0, c40); c41 = FMA(x, b1, c41);                                    \
            x = SET1(a5[offset]); c50 = FMA(x, b0, c50); c51 = FMA(x, b1, c51);                                    \
            offset += a_step;                                                                                      \
            bp += ldb;                                                                                             \
        }                                                                                                          \
        acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21;                        \
        acc[6] = c30, acc[7] = c31, acc[8] = c40, acc[9] = c41, acc[10] = c50, acc[11] = c51;                      \
    }
DEFINE_TILE(tile, AVX2, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps)
DEFINE_TILE(tile_wide, WIDE, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps)

// c[r][0..<32] = acc[r] for r < rows.
WIDE INLINE void store_wide(const __m512 acc[2 * TILE_ROWS], float *c, long ldc, long rows) {
    for (long r = 0; r < rows; r++) {
        _mm512_storeu_ps(c + r * ldc, acc[2 * r]);
        _mm512_storeu_ps(c + r * ldc + 16, acc[2 * r + 1]);
    }
}

// c[r][0..<columns] = alpha · acc[r] for r < rows; columns ≤ 16.
AVX2 INLINE void store(const __m256 acc[2 * TILE_ROWS], float *c, long ldc, long rows, long columns, float alpha) {
    __m256 scale = _mm256_set1_ps(alpha);
    if (columns == TILE_COLUMNS) {
        for (long r = 0; r < rows; r++) {
            _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(acc[2 * r], scale));
            _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(acc[2 * r + 1], scale));
        }
        return;
    }
    __m256i low = looplm_first_lanes(columns), high = looplm_first_lanes(columns - 8);
    for (long r = 0; r < rows; r++) {
        _mm256_maskstore_ps(c + r * ldc, low, _mm256_mul_ps(acc[2 * r], scale));
        _mm256_maskstore_ps(c + r * ldc + 8, high, _mm256_mul_ps(acc[2 * r + 1], scale));
    }
}

// Rows first, first + 1, … of a matrix with rows `ld` apart (elements 1 apart), or columns of it
// (rows 1 apart) when `ld` is 1 and the caller steps by the row length: rows past `last` repeat
// row `last`, so a partial tile reads only memory that exists (and its extra results are dropped).
INLINE void rows_from(const float *a[TILE_ROWS], const float *base, long first, long last, long ld) {
    for (long r = 0; r < TILE_ROWS; r++) a[r] = base + (first + r <= last ? first + r : last) * ld;
}

// Rows i0 ..< i0 + rows of the block (rows ≤ TILE_ROWS: the callers pass min(t − i0, TILE_ROWS)),
// row i's first i + 1 entries (t apart), each replaced by its softmax: every row's maximum, then
// its exponentials, each computed once and stored, then the scale by 1 / sum. Each phase runs
// over all the block's rows before the next: one row's phases form a chain longer than the
// out-of-order window (a row of 64 took 160 cycles alone on Zen 4), while different rows are
// independent. Each row's maximum and sum still take its vectors in order (which decides where a
// NaN score goes), so the results are those of one row at a time, bit for bit.
AVX2 static void softmax_rows(float *p, long t, long i0, long rows) {
    __m256 shift[TILE_ROWS], sums[TILE_ROWS];
    for (long r = 0; r < rows; r++) {
        const float *x = p + (i0 + r) * t;
        long count = i0 + r + 1, full = count / 8 * 8;
        __m256 m = _mm256_set1_ps(-INFINITY);
        for (long j = 0; j < full; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
        float max = looplm_horizontal_max8(m);
        for (long j = full; j < count; j++) max = x[j] > max ? x[j] : max;
        shift[r] = _mm256_set1_ps(max);
        sums[r] = _mm256_setzero_ps();
    }
    for (long r = 0; r < rows; r++) {
        float *x = p + (i0 + r) * t;
        long count = i0 + r + 1, full = count / 8 * 8, tail = count - full, j = 0;
        __m256 sum = sums[r];
        for (; j + 32 <= full; j += 32) {  // four exponentials interleaved (see looplm_exp8_many)
            __m256 e[4];
            for (int v = 0; v < 4; v++) e[v] = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8 * v), shift[r]);
            looplm_exp8_many(e, 4);
            for (int v = 0; v < 4; v++) {
                _mm256_storeu_ps(x + j + 8 * v, e[v]);
                sum = _mm256_add_ps(sum, e[v]);
            }
        }
        for (; j < full; j += 8) {
            __m256 e = looplm_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), shift[r]));
            _mm256_storeu_ps(x + j, e);
            sum = _mm256_add_ps(sum, e);
        }
        if (tail) {
            __m256i tail_lanes = looplm_first_lanes(tail);
            __m256 e = looplm_exp8(_mm256_sub_ps(_mm256_maskload_ps(x + full, tail_lanes), shift[r]));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(tail_lanes));
            _mm256_maskstore_ps(x + full, tail_lanes, e);
            sum = _mm256_add_ps(sum, e);
        }
        sums[r] = sum;
    }
    for (long r = 0; r < rows; r++) {
        float *x = p + (i0 + r) * t;
        long count = i0 + r + 1, full = count / 8 * 8, tail = count - full;
        __m256 factor = _mm256_set1_ps(1 / looplm_horizontal_sum8(sums[r]));
        for (long j = 0; j < full; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), factor));
        if (tail) {
            __m256i tail_lanes = looplm_first_lanes(tail);
            _mm256_maskstore_ps(x + full, tail_lanes, _mm256_mul_ps(_mm256_maskload_ps(x + full, tail_lanes), factor));
        }
    }
}

// ds[j] = p[j] · (ds[j] − Σ p ⊙ ds) · scale for j ≤ i, on rows i0 ..< i0 + rows of the block (one
// row of the scores' gradient each; rows t apart; rows ≤ TILE_ROWS): every row's dot product, then
// every row's scaling, for the same reason as softmax_rows.
AVX2 static void softmax_backward_rows(float *ds_block, const float *p_block, long t, long i0, long rows, float scale) {
    __m256 dots[TILE_ROWS], factor = _mm256_set1_ps(scale);
    for (long r = 0; r < rows; r++) {
        const float *ds = ds_block + (i0 + r) * t, *p = p_block + (i0 + r) * t;
        long count = i0 + r + 1, full = count / 8 * 8, tail = count - full, j = 0;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (; j + 16 <= full; j += 16) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(ds + j), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j + 8), _mm256_loadu_ps(ds + j + 8), s1);
        }
        if (j < full) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(ds + j), s0);
        if (tail) {
            __m256i tail_lanes = looplm_first_lanes(tail);
            s1 = _mm256_fmadd_ps(_mm256_maskload_ps(p + full, tail_lanes), _mm256_maskload_ps(ds + full, tail_lanes), s1);
        }
        dots[r] = _mm256_set1_ps(looplm_horizontal_sum8(_mm256_add_ps(s0, s1)));
    }
    for (long r = 0; r < rows; r++) {
        float *ds = ds_block + (i0 + r) * t;
        const float *p = p_block + (i0 + r) * t;
        long count = i0 + r + 1, full = count / 8 * 8, tail = count - full;
        for (long j = 0; j < full; j += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(ds + j), dots[r]);
            _mm256_storeu_ps(ds + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + j), d), factor));
        }
        if (tail) {
            __m256i tail_lanes = looplm_first_lanes(tail);
            __m256 d = _mm256_sub_ps(_mm256_maskload_ps(ds + full, tail_lanes), dots[r]);
            _mm256_maskstore_ps(ds + full, tail_lanes,
                                _mm256_mul_ps(_mm256_mul_ps(_mm256_maskload_ps(p + full, tail_lanes), d), factor));
        }
    }
}

// transposed[d · t16 + j] = m[j · ld + d] for j < t, zero for t ≤ j < t16 (head_size a
// multiple of 8): 8 × 8 blocks through registers, the last t mod 8 positions one by one.
AVX2 static void transpose_head(float *transposed, const float *m, long ld, long t, long head_size) {
    long t16 = looplm_attention_scratch_floats(t, head_size) / head_size, j = 0;
    for (; j + 8 <= t; j += 8)
        for (long d = 0; d < head_size; d += 8) {
            __m256 r[8];
            for (long i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(m + (j + i) * ld + d);
            looplm_transpose8(r);
            for (long i = 0; i < 8; i++) _mm256_storeu_ps(transposed + (d + i) * t16 + j, r[i]);
        }
    for (; j < t16; j++)
        for (long d = 0; d < head_size; d++) transposed[d * t16 + j] = j < t ? m[j * ld + d] : 0;
}

// square[i][j] = alpha · Σ_d m[i][d] · transposed[d][j] for the block's rows i0..<i0 + rows and
// the 16-column tiles over keys 0..<keys (a tile's columns past a row's own position are left for
// the caller to overwrite): q·kᵀ in forward, dy·vᵀ in backward.
AVX2 static void block_scores(float *square, long t, const float *m, long ld, long i0, long rows, long keys,
                              const float *transposed, long head_size, float alpha) {
    long t16 = looplm_attention_scratch_floats(t, head_size) / head_size;
    __m256 acc[2 * TILE_ROWS];
    const float *a[TILE_ROWS];
    rows_from(a, m, i0, t - 1, ld);
    for (long j0 = 0; j0 < keys; j0 += TILE_COLUMNS) {
        tile(acc, a, 1, transposed + j0, t16, 0, head_size);
        store(acc, square + i0 * t + j0, t, rows, t - j0 < TILE_COLUMNS ? t - j0 : TILE_COLUMNS, alpha);
    }
}

// Whole tiles (rows ≤ TILE_ROWS) stored as they are, in the signature both widths share.
AVX2 INLINE void store_whole(const __m256 acc[2 * TILE_ROWS], float *c, long ldc, long rows) {
    store(acc, c, ldc, rows, TILE_COLUMNS, 1);
}

// NAME(y, …) = Σ_{j < keys} square[i][j] · values[j] into y[i][0..<head_size] for the block's
// rows (each row's entries after its own position are zero): p · v in forward, ds · k in
// backward. Defined for 6 × 16 tiles and for 6 × 32 ones (head_size a multiple of 32).
#define DEFINE_WEIGHTED_SUM(NAME, TARGET, VEC, TILE, STORE, COLUMNS)                                               \
    TARGET static void NAME(float *y, long ld_y, const float *square, long t, long i0, long rows, long keys,       \
                            const float *values, long ld_values, long head_size) {                                 \
        VEC acc[2 * TILE_ROWS];                                                                                    \
        const float *a[TILE_ROWS];                                                                                 \
        rows_from(a, square, i0, t - 1, t);                                                                        \
        for (long c0 = 0; c0 < head_size; c0 += COLUMNS) {                                                         \
            TILE(acc, a, 1, values + c0, ld_values, 0, keys);                                                      \
            STORE(acc, y + i0 * ld_y + c0, ld_y, rows);                                                            \
        }                                                                                                          \
    }
DEFINE_WEIGHTED_SUM(block_weighted_sum, AVX2, __m256, tile, store_whole, TILE_COLUMNS)
DEFINE_WEIGHTED_SUM(block_weighted_sum_wide, WIDE, __m512, tile_wide, store_wide, WIDE_COLUMNS)

// NAME(dk, dv, …): dk = dsᵀ · q and dv = pᵀ · dy, key j summing over the queries i ≥ j (column
// j of ds and p). Defined for both tile widths, like the weighted sum.
#define DEFINE_KEY_GRADIENTS(NAME, TARGET, VEC, TILE, STORE, COLUMNS)                                              \
    TARGET static void NAME(float *dk, float *dv, const float *ds, const float *p, const float *q,                \
                            const float *dy, long ld_y, long ld_qkv, long t, long head_size) {                     \
        VEC acc[2 * TILE_ROWS];                                                                                    \
        const float *a[TILE_ROWS];                                                                                 \
        for (long j0 = 0; j0 < t; j0 += TILE_ROWS) {                                                               \
            long rows = t - j0 < TILE_ROWS ? t - j0 : TILE_ROWS;                                                   \
            for (long c0 = 0; c0 < head_size; c0 += COLUMNS) {                                                     \
                rows_from(a, ds, j0, t - 1, 1);                                                                    \
                TILE(acc, a, t, q + c0, ld_qkv, j0, t);                                                            \
                STORE(acc, dk + j0 * ld_qkv + c0, ld_qkv, rows);                                                   \
                rows_from(a, p, j0, t - 1, 1);                                                                     \
                TILE(acc, a, t, dy + c0, ld_y, j0, t);                                                             \
                STORE(acc, dv + j0 * ld_qkv + c0, ld_qkv, rows);                                                   \
            }                                                                                                      \
        }                                                                                                          \
    }
DEFINE_KEY_GRADIENTS(key_gradients, AVX2, __m256, tile, store_whole, TILE_COLUMNS)
DEFINE_KEY_GRADIENTS(key_gradients_wide, WIDE, __m512, tile_wide, store_wide, WIDE_COLUMNS)

AVX2 void looplm_attention_forward_avx2(float *out, long ld_y, float *p, const float *q, const float *k,
                                        const float *v, long ld_qkv, long t, long head_size, float scale,
                                        float *transposed) {
    transpose_head(transposed, k, ld_qkv, t, head_size);
    for (long i0 = 0; i0 < t; i0 += TILE_ROWS) {
        long rows = t - i0 < TILE_ROWS ? t - i0 : TILE_ROWS, keys = i0 + rows;
        block_scores(p, t, q, ld_qkv, i0, rows, keys, transposed, head_size, scale);
        softmax_rows(p, t, i0, rows);
        for (long i = i0; i < keys; i++)
            for (long j = i + 1; j < keys; j++) p[i * t + j] = 0;  // read by the block's p · v and by dv
        block_weighted_sum(out, ld_y, p, t, i0, rows, keys, v, ld_qkv, head_size);
    }
}

AVX2 void looplm_attention_backward_avx2(float *dq, float *dk, float *dv, float *ds, const float *dy, long ld_y,
                                         const float *q, const float *k, const float *v, long ld_qkv,
                                         const float *p, long t, long head_size, float scale, float *transposed,
                                         int wide_tiles) {
    transpose_head(transposed, v, ld_qkv, t, head_size);
    for (long i0 = 0; i0 < t; i0 += TILE_ROWS) {
        long rows = t - i0 < TILE_ROWS ? t - i0 : TILE_ROWS, keys = i0 + rows;
        block_scores(ds, t, dy, ld_y, i0, rows, keys, transposed, head_size, 1);  // dp = dy · vᵀ
        // ds = p ⊙ (dp − Σ p ⊙ dp) · scale on j ≤ i; zero after, where the mask cut the scores.
        softmax_backward_rows(ds, p, t, i0, rows, scale);
        for (long i = i0; i < keys; i++)
            for (long j = i + 1; j < keys; j++) ds[i * t + j] = 0;  // read by the block's dq and by dk
        if (wide_tiles)  // dq = ds · k
            block_weighted_sum_wide(dq, ld_qkv, ds, t, i0, rows, keys, k, ld_qkv, head_size);
        else
            block_weighted_sum(dq, ld_qkv, ds, t, i0, rows, keys, k, ld_qkv, head_size);
    }
    if (wide_tiles)
        key_gradients_wide(dk, dv, ds, p, q, dy, ld_y, ld_qkv, t, head_size);
    else
        key_gradients(dk, dv, ds, p, q, dy, ld_y, ld_qkv, t, head_size);
}

#else
// Not x86-64: looplm_has_avx2_kernels() is 0 and these are never called.
void looplm_attention_forward_avx2(float *out, long ld_y, float *p, const float *q, const float *k, const float *v,
                                   long ld_qkv, long t, long head_size, float scale, float *transposed) {}
void looplm_attention_backward_avx2(float *dq, float *dk, float *dv, float *ds, const float *dy, long ld_y,
                                    const float *q, const float *k, const float *v, long ld_qkv, const float *p,
                                    long t, long head_size, float scale, float *transposed, int wide_tiles) {}
#endif
