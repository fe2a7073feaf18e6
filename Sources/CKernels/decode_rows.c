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

// Output-major products (the tied head): the rows of x four at a time (their 12 KB stay in L1
// while the weight rows stream past), each row's dot product with a weight row in four 8-lane
// partial sums (inputs i with ⌊i / 8⌋ mod 4 = 0, 1, 2, 3; a last lone vector or three into the
// first), added ((a0 + a1) + (a2 + a3)) and summed across lanes in a fixed order, then the
// scalar tail: the same for every row count and in both entry points. Four partial sums keep a
// single row from waiting on the multiply-add latency: with two, one row of GPT-2's head ran at
// 62–70 GB/s from L2 on Zen 4, with four at 84–99; with four rows × two sums, 4 to 16 rows took
// 1.3–1.35× as long. Four rows hold 16 accumulators: AVX-512's 32 registers take them, AVX2's 16
// spill two of them to the stack in each step (the same operations, so the same bits; on Zen 4
// the AVX2 version still took 0.88–0.93× the two-sum kernel's time at 4 to 16 rows).
__attribute__((target("avx2,fma"), always_inline)) static inline void dot_rows(const float *wj, const float *x, int c,
                                                                               int R, float sums[4]) {
    __m256 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++) acc[r][v] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= c; i += 32)
        for (int v = 0; v < 4; v++) {
            __m256 wv = _mm256_loadu_ps(wj + i + 8 * v);
            for (int r = 0; r < R; r++) acc[r][v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * c + i + 8 * v), acc[r][v]);
        }
    for (; i + 8 <= c; i += 8) {
        __m256 wv = _mm256_loadu_ps(wj + i);
        for (int r = 0; r < R; r++) acc[r][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * c + i), acc[r][0]);
    }
    for (int r = 0; r < R; r++)
        sums[r] = looplm_horizontal_sum8(_mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]),
                                                       _mm256_add_ps(acc[r][2], acc[r][3])));
    for (int k = i; k < c; k++)
        for (int r = 0; r < R; r++) sums[r] = fmaf(wj[k], x[r * c + k], sums[r]);
}

#define DEFINE_OUTPUT_MAJOR(NAME, TARGET)                                                                          \
    __attribute__((target(TARGET))) void NAME(const float *w, const float *x, int rows, int c, int outputs,       \
                                              float *y, long ldy) {                                               \
        for (int first = 0; first < rows; first += 4) {                                                            \
            const int count = rows - first < 4 ? rows - first : 4;                                                 \
            const float *xg = x + (long)first * c;                                                                 \
            for (int j = 0; j < outputs; j++) {                                                                    \
                const float *wj = w + (long)j * c;                                                                 \
                float sums[4];                                                                                     \
                switch (count) {                                                                                   \
                case 4: dot_rows(wj, xg, c, 4, sums); break;                                                       \
                case 3: dot_rows(wj, xg, c, 3, sums); break;                                                       \
                case 2: dot_rows(wj, xg, c, 2, sums); break;                                                       \
                default: dot_rows(wj, xg, c, 1, sums); break;                                                      \
                }                                                                                                  \
                for (int r = 0; r < count; r++) y[(long)(first + r) * ldy + j] += sums[r];                         \
            }                                                                                                      \
        }                                                                                                          \
    }
DEFINE_OUTPUT_MAJOR(looplm_output_major_f32_avx2, "avx2,fma")
DEFINE_OUTPUT_MAJOR(looplm_output_major_f32_avx512, "avx512f,avx512vl,avx2,fma")
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

void looplm_output_major_f32_avx512(const float *w, const float *x, int rows, int c, int outputs, float *y,
                                    long ldy) {
    looplm_output_major_f32_avx2(w, x, rows, c, outputs, y, ldy);
}
#endif
