// The machine's measured FMA peak: each thread runs independent chains of vector fused
// multiply-adds (enough of them to cover the FMA latency on every current x86 core), with
// AVX-512 where the CPU has it and AVX2+FMA otherwise. Prints GFLOP/s for 1 thread and for
// every core, the ceiling against which the training step's GFLOP/s are quoted.
//   gcc -O3 -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [seconds]
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { chains = 12, repeats = 1000000 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Returns the flops done: repeats × chains × lanes × 2.
__attribute__((target("avx2,fma"))) static double run_avx2(float *sink) {
    __m256 acc[chains], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < chains; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < repeats; r++)
#pragma GCC unroll 12
        for (int i = 0; i < chains; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 total = acc[0];
    for (int i = 1; i < chains; i++) total = _mm256_add_ps(total, acc[i]);
    *sink = _mm256_cvtss_f32(total);
    return (double)repeats * chains * 8 * 2;
}

__attribute__((target("avx512f"))) static double run_avx512(float *sink) {
    __m512 acc[chains], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < chains; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < repeats; r++)
#pragma GCC unroll 12
        for (int i = 0; i < chains; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 total = acc[0];
    for (int i = 1; i < chains; i++) total = _mm512_add_ps(total, acc[i]);
    *sink = _mm512_reduce_add_ps(total);
    return (double)repeats * chains * 16 * 2;
}

typedef struct {
    double seconds, flops;
    float sink;
} Work;

static void *worker(void *argument) {
    Work *work = argument;
    int wide = __builtin_cpu_supports("avx512f");
    double start = now();
    work->flops = 0;
    while (now() - start < work->seconds) work->flops += wide ? run_avx512(&work->sink) : run_avx2(&work->sink);
    work->seconds = now() - start;
    return NULL;
}

static double measure(int threads, double seconds) {
    pthread_t ids[64];
    Work works[64];
    double flops = 0, longest = 0;
    for (int t = 0; t < threads; t++) {
        works[t].seconds = seconds;
        pthread_create(&ids[t], NULL, worker, &works[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        flops += works[t].flops;
        longest = works[t].seconds > longest ? works[t].seconds : longest;
    }
    return flops / longest / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 64) cores = 64;
    if (!__builtin_cpu_supports("fma")) {
        printf("no FMA on this CPU\n");
        return 1;
    }
    const char *level = __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2+FMA";
    double one = measure(1, seconds), all = measure(cores, seconds);
    printf("FMA peak (%s): %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads\n", level, one, all, cores);
    return 0;
}
