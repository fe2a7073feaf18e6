// Float32 and bfloat16 decode products whose outputs do not depend on which rows share a call
// (see decode_rows.h). AVX2 and AVX-512 versions are compiled for their targets by function
// attribute, so the package needs no unsafeFlags; callers choose at run time.
#include "decode_rows.h"
#include <math.h>
#include <string.h>

static inline float f32_value(const float *w) { return *w; }
// bfloat16 widens exactly to float32: its 16 bits become the high half.
static inline float bf16_value(const uint16_t *w) {
    uint32_t wide = (uint32_t)*w << 16;
    float value;
    memcpy(&value, &wide, sizeof value);
    return value;
}

// The same chain per output in plain C, for CPUs without AVX2 and FMA (fmaf rounds once, as the
// vector kernels' fused multiply-adds do, so all versions agree bit for bit).
void looplm_rows_bf16_portable(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                               float *y, long ldy) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < columns; j++) {
            float acc = y[r * ldy + j];
            for (int k = 0; k < c; k++) acc = fmaf(x[r * ldx + k], bf16_value(w + k * ldw + j), acc);
            y[r * ldy + j] = acc;
        }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "horizontal_sum.h"

int looplm_has_decode_row_kernels(void) { return 1; }

// Input-major products: a block of R rows × V vectors of outputs keeps its accumulators in
// registers over a tile of inputs; at each input every weight vector loaded serves R rows and
// every broadcast input V vectors. R and V are compile-time constants after inlining. Each
// block covers a whole 64-wide panel row, so the weights stream in order:
//   AVX-512: 4 rows × 4 vectors (16 of the 32 registers);
//   AVX2: 1 row × 8 vectors (8 of 16); the other rows find the tile in L1.
// Measured on Zen 4, one thread, four blocks' products (28 M weights) in panels, against the
// sweeps this replaces (weights in registers, accumulators through y): 8 rows 24 → 7.5 ms
// (AVX-512) and 20 → 9.7 ms (AVX2); 16 rows 36 → 11.6 and 39 → 15 ms. With AVX2, 4 rows × 2
// vectors ran 8 rows in 20 ms: each block then reads one line of every 256-byte panel row.
enum { input_tile = 64 };  // inputs per tile: a tile of a panel stays in L1 across its vectors

// Scalar columns (the band's ragged end): the same chain of fused multiply-adds per output.
#define DEFINE_TAIL(NAME, WTYPE, VALUE)                                                                            \
    __attribute__((target("fma"))) static void NAME(const WTYPE *w, long ldw, const float *x, long ldx, int rows,  \
                                                    int c, int first, int columns, float *y, long ldy) {           \
        for (int j = first; j < columns; j++)                                                                      \
            for (int r = 0; r < rows; r++) {                                                                       \
                float acc = y[r * ldy + j];                                                                        \
                for (int k = 0; k < c; k++) acc = fmaf(x[r * ldx + k], VALUE(w + k * ldw + j), acc);               \
                y[r * ldy + j] = acc;                                                                              \
            }                                                                                                      \
    }
DEFINE_TAIL(tail_f32, float, f32_value)
DEFINE_TAIL(tail_bf16, uint16_t, bf16_value)

// One block: R rows × V vectors of outputs from column j, over inputs [0, c) of w and x.
#define DEFINE_BLOCK(NAME, TARGET, WTYPE, VEC, WIDTH, WLOAD, LOAD, STORE, FMA, SET1)                               \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(                                         \
        const WTYPE *w, long ldw, const float *x, long ldx, int R, int V, int c, int j, float *y, long ldy) {      \
        VEC acc[4][8];                                                                                              \
        for (int r = 0; r < R; r++)                                                                                 \
            for (int v = 0; v < V; v++) acc[r][v] = LOAD(y + r * ldy + j + v * WIDTH);                            \
        for (int k = 0; k < c; k++) {                                                                               \
            VEC wv[8];                                                                                              \
            for (int v = 0; v < V; v++) wv[v] = WLOAD(w + k * ldw + j + v * WIDTH);                                \
            for (int r = 0; r < R; r++) {                                                                           \
                VEC b = SET1(x[r * ldx + k]);                                                                       \
                for (int v = 0; v < V; v++) acc[r][v] = FMA(b, wv[v], acc[r][v]);                                  \
            }                                                                                                       \
        }                                                                                                           \
        for (int r = 0; r < R; r++)                                                                                 \
            for (int v = 0; v < V; v++) STORE(y + r * ldy + j + v * WIDTH, acc[r][v]);                             \
    }

// R rows over the vector columns of one tile of `tile` inputs: V vectors at a time, then one.
#define DEFINE_ROW_GROUP(NAME, BLOCK, TARGET, WTYPE, WIDTH)                                                         \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(                                         \
        const WTYPE *w, long ldw, const float *x, long ldx, int R, int V, int tile, int vector_end, float *y,      \
        long ldy) {                                                                                                 \
        int j = 0;                                                                                                  \
        for (; j + V * WIDTH <= vector_end; j += V * WIDTH) BLOCK(w, ldw, x, ldx, R, V, tile, j, y, ldy);           \
        for (; j < vector_end; j += WIDTH) BLOCK(w, ldw, x, ldx, R, 1, tile, j, y, ldy);                            \
    }

// Tiles of inputs outermost, so that every row group after the first finds the tile in L1;
// within a tile, rows in groups of RB (the rest in one smaller group; a row alone with V1
// vectors). The scalar columns after all tiles.
#define DEFINE_ROWS(NAME, GROUP, TAIL, TARGET, WTYPE, WIDTH, RB, V, V1)                                              \
    __attribute__((target(TARGET))) static void NAME(const WTYPE *w, long ldw, const float *x, long ldx, int rows, int c,   \
                                              int columns, float *y, long ldy) {                                     \
        const int vector_end = columns - columns % WIDTH;                                                            \
        for (int k = 0; k < c; k += input_tile) {                                                                    \
            const int tile = c - k < input_tile ? c - k : input_tile;                                                \
            const WTYPE *wt = w + k * ldw;                                                                           \
            int r = 0;                                                                                               \
            for (; r + RB <= rows; r += RB) GROUP(wt, ldw, x + r * ldx + k, ldx, RB, V, tile, vector_end, y + r * ldy, ldy); \
            switch (rows - r) {                                                                                      \
            case 3: GROUP(wt, ldw, x + r * ldx + k, ldx, 3, V, tile, vector_end, y + r * ldy, ldy); break;           \
            case 2: GROUP(wt, ldw, x + r * ldx + k, ldx, 2, V, tile, vector_end, y + r * ldy, ldy); break;           \
            case 1: GROUP(wt, ldw, x + r * ldx + k, ldx, 1, V1, tile, vector_end, y + r * ldy, ldy); break;          \
            default: break;                                                                                          \
            }                                                                                                        \
        }                                                                                                            \
        TAIL(w, ldw, x, ldx, rows, c, vector_end, columns, y, ldy);                                                  \
    }

// bfloat16 vectors widened like bf16_value.
#define LOAD_BF16_8(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define LOAD_BF16_16(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))

DEFINE_BLOCK(block_f32_avx2, "avx2,fma", float, __m256, 8, _mm256_loadu_ps, _mm256_loadu_ps, _mm256_storeu_ps,
             _mm256_fmadd_ps, _mm256_set1_ps)
DEFINE_ROW_GROUP(group_f32_avx2, block_f32_avx2, "avx2,fma", float, 8)
DEFINE_ROWS(rows_f32_avx2, group_f32_avx2, tail_f32, "avx2,fma", float, 8, 1, 8, 8)
DEFINE_BLOCK(block_f32_avx512, "avx512f,fma", float, __m512, 16, _mm512_loadu_ps, _mm512_loadu_ps, _mm512_storeu_ps,
             _mm512_fmadd_ps, _mm512_set1_ps)
DEFINE_ROW_GROUP(group_f32_avx512, block_f32_avx512, "avx512f,fma", float, 16)
DEFINE_ROWS(rows_f32_avx512, group_f32_avx512, tail_f32, "avx512f,fma", float, 16, 4, 4, 4)
DEFINE_BLOCK(block_bf16_avx2, "avx2,fma", uint16_t, __m256, 8, LOAD_BF16_8, _mm256_loadu_ps, _mm256_storeu_ps,
             _mm256_fmadd_ps, _mm256_set1_ps)
DEFINE_ROW_GROUP(group_bf16_avx2, block_bf16_avx2, "avx2,fma", uint16_t, 8)
DEFINE_ROWS(rows_bf16_avx2, group_bf16_avx2, tail_bf16, "avx2,fma", uint16_t, 8, 1, 8, 8)
DEFINE_BLOCK(block_bf16_avx512, "avx512f,avx512bw,fma", uint16_t, __m512, 16, LOAD_BF16_16, _mm512_loadu_ps,
             _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_set1_ps)
DEFINE_ROW_GROUP(group_bf16_avx512, block_bf16_avx512, "avx512f,avx512bw,fma", uint16_t, 16)
DEFINE_ROWS(rows_bf16_avx512, group_bf16_avx512, tail_bf16, "avx512f,avx512bw,fma", uint16_t, 16, 4, 4, 4)

// One row goes to the AVX2 blocks on AVX-512 machines too: on Zen 4 (which runs a 512-bit
// operation as two 256-bit halves) they stream the weights faster. GPT-2 124M, float32, one
// sequence, `bench --generate`, three alternating runs of each: 91–93% of the bandwidth of the
// same seconds at 30 GB/s and 75–82% at 52–57 GB/s with AVX2 blocks, 82–90% and 73% with AVX-512
// ones. From 2 rows on the AVX-512 blocks are faster (4 rows: 5.7 against 9.4 ms, one thread,
// four blocks' products). Every version computes the same chains, so the choice changes no bit.
#define DEFINE_ENTRY(NAME, WTYPE, AVX2, AVX512)                                                                     \
    void NAME##_avx2(const WTYPE *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,    \
                     long ldy) {                                                                                    \
        AVX2(w, ldw, x, ldx, rows, c, columns, y, ldy);                                                             \
    }                                                                                                               \
    void NAME##_avx512(const WTYPE *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,  \
                       long ldy) {                                                                                  \
        if (rows == 1)                                                                                              \
            AVX2(w, ldw, x, ldx, rows, c, columns, y, ldy);                                                         \
        else                                                                                                        \
            AVX512(w, ldw, x, ldx, rows, c, columns, y, ldy);                                                       \
    }
DEFINE_ENTRY(looplm_rows_f32, float, rows_f32_avx2, rows_f32_avx512)
DEFINE_ENTRY(looplm_rows_bf16, uint16_t, rows_bf16_avx2, rows_bf16_avx512)

// Output-major products (the tied head): for each group of up to four rows and each weight
// row, the dot products in two 8-lane partial sums per row (even and odd vectors of 16 inputs, a
// last lone vector into the even one), added (even + odd) and summed across lanes in a fixed
// order, then the scalar tail: the same for every row count. Two chains per row keep a single
// row from waiting on the multiply-add latency.
__attribute__((target("avx2,fma"))) void looplm_output_major_f32_avx2(const float *w, const float *x, int rows, int c,
                                                                       int outputs, float *y, long ldy) {
    for (int first = 0; first < rows; first += 4) {
        const int count = rows - first < 4 ? rows - first : 4;
        const float *xg = x + (long)first * c;
        for (int j = 0; j < outputs; j++) {
            const float *wj = w + (long)j * c;
            __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
            int i = 0;
            for (; i + 16 <= c; i += 16) {
                __m256 we = _mm256_loadu_ps(wj + i), wo = _mm256_loadu_ps(wj + i + 8);
                LOOPLM_FMA_FOUR_ROWS(we, xg, c, i, count, e0, e1, e2, e3);
                LOOPLM_FMA_FOUR_ROWS(wo, xg, c, i + 8, count, o0, o1, o2, o3);
            }
            if (i + 8 <= c) {
                __m256 we = _mm256_loadu_ps(wj + i);
                LOOPLM_FMA_FOUR_ROWS(we, xg, c, i, count, e0, e1, e2, e3);
                i += 8;
            }
            float sums[4];
            LOOPLM_STORE_FOUR_SUMS(sums, _mm256_add_ps(e0, o0), _mm256_add_ps(e1, o1), _mm256_add_ps(e2, o2),
                                   _mm256_add_ps(e3, o3));
            for (int r = 0; r < count; r++) {
                float sum = sums[r];
                for (int k = i; k < c; k++) sum = fmaf(wj[k], xg[r * c + k], sum);
                y[(long)(first + r) * ldy + j] += sum;
            }
        }
    }
}
#else
int looplm_has_decode_row_kernels(void) { return 0; }

static void rows_portable(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,
                          long ldy) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < columns; j++) {
            float acc = y[r * ldy + j];
            for (int k = 0; k < c; k++) acc = fmaf(x[r * ldx + k], w[k * ldw + j], acc);
            y[r * ldy + j] = acc;
        }
}

void looplm_rows_f32_avx2(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns, float *y,
                          long ldy) {
    rows_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_rows_f32_avx512(const float *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                            float *y, long ldy) {
    rows_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_rows_bf16_avx2(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                           float *y, long ldy) {
    looplm_rows_bf16_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_rows_bf16_avx512(const uint16_t *w, long ldw, const float *x, long ldx, int rows, int c, int columns,
                             float *y, long ldy) {
    looplm_rows_bf16_portable(w, ldw, x, ldx, rows, c, columns, y, ldy);
}

void looplm_output_major_f32_avx2(const float *w, const float *x, int rows, int c, int outputs, float *y, long ldy) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < outputs; j++) {
            float sum = 0;
            for (int i = 0; i < c; i++) sum = fmaf(w[(long)j * c + i], x[(long)r * c + i], sum);
            y[(long)r * ldy + j] += sum;
        }
}
#endif
