// The spinning thread pool of thread_pool.h.
//
// A run publishes one 64-bit command word: (generation << 8) | chunks. The task and its
// context are written before it (release) and read after it (acquire) only by the workers that
// have a chunk; each of those acknowledges the generation in its own cache line, and the caller
// waits for every acknowledgement before it returns, so no worker can still be reading the task
// when the next run writes it. Workers without a chunk read nothing but the command word.
#define _GNU_SOURCE
#include "thread_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

enum { stop_chunks = 0xFF, cache_line = 64 };
#define generation_mask ((UINT64_C(1) << 56) - 1)
// Pauses between yields of the processor while spinning: a spinning thread that shares its core
// with a runnable one (more threads than cores, or a busy machine) lets it run.
enum { pauses_per_yield = 64 };

static void relax(unsigned spins) {
    CPU_RELAX();
    if (spins % pauses_per_yield == 0) sched_yield();
}

typedef struct {
    _Alignas(cache_line) atomic_uint_fast64_t finished;  // the last generation this worker finished
    pthread_t thread;
    struct looplm_pool *pool;
    int index;
} worker_slot;

struct looplm_pool {
    _Alignas(cache_line) atomic_uint_fast64_t command;
    looplm_pool_task task;
    void *context;
    _Alignas(cache_line) atomic_flag in_use;
    atomic_int sleepers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    long spin_nanoseconds;
    int workers;
    uint64_t generation;  // the caller's, under in_use
    worker_slot *slots;
};

static long now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

// Waits until the command word differs from `seen`: spinning first, then asleep.
static uint64_t next_command(struct looplm_pool *pool, uint64_t seen) {
    long deadline = now_nanoseconds() + pool->spin_nanoseconds;
    for (unsigned spins = 1;; spins++) {
        uint64_t command = atomic_load_explicit(&pool->command, memory_order_acquire);
        if (command != seen) return command;
        relax(spins);
        if ((spins & 255) == 0 && now_nanoseconds() > deadline) break;
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1);  // sequentially consistent: see looplm_pool_run
    uint64_t command;
    while ((command = atomic_load(&pool->command)) == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return command;
}

static void *worker_main(void *argument) {
    worker_slot *slot = argument;
    struct looplm_pool *pool = slot->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = next_command(pool, seen);
        int chunks = (int)(seen & 0xFF);
        if (chunks == stop_chunks) return NULL;
        if (slot->index + 1 >= chunks) continue;  // no chunk for this worker in this run
        pool->task(pool->context, slot->index + 1);
        atomic_store_explicit(&slot->finished, seen >> 8, memory_order_release);
    }
}

looplm_pool *looplm_pool_create(int workers, int spin_microseconds) {
    if (workers < 1 || workers >= stop_chunks - 1) return NULL;
    struct looplm_pool *pool = aligned_alloc(cache_line, (sizeof *pool + cache_line - 1) / cache_line * cache_line);
    worker_slot *slots = aligned_alloc(cache_line, sizeof(worker_slot) * (size_t)workers);
    if (!pool || !slots) {
        free(pool);
        free(slots);
        return NULL;
    }
    atomic_init(&pool->command, 0);
    atomic_flag_clear(&pool->in_use);
    atomic_init(&pool->sleepers, 0);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->task = NULL;
    pool->context = NULL;
    pool->spin_nanoseconds = (long)spin_microseconds * 1000L;
    pool->workers = 0;
    pool->generation = 0;
    pool->slots = slots;
    for (int w = 0; w < workers; w++) {
        atomic_init(&slots[w].finished, 0);
        slots[w].pool = pool;
        slots[w].index = w;
        if (pthread_create(&slots[w].thread, NULL, worker_main, &slots[w]) != 0) {
            looplm_pool_destroy(pool);  // stops the ones started
            return NULL;
        }
        pool->workers = w + 1;
    }
    return pool;
}

static void publish(struct looplm_pool *pool, uint64_t command) {
    atomic_store(&pool->command, command);  // sequentially consistent with the sleepers count:
    if (atomic_load(&pool->sleepers) > 0) {  // either the worker sees the command or we see it asleep
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
}

void looplm_pool_destroy(looplm_pool *pool) {
    if (!pool) return;
    publish(pool, ((pool->generation + 1) << 8) | stop_chunks);
    for (int w = 0; w < pool->workers; w++) pthread_join(pool->slots[w].thread, NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->slots);
    free(pool);
}

int looplm_pool_run(looplm_pool *pool, int chunks, looplm_pool_task task, void *context) {
    if (chunks < 1 || chunks > pool->workers + 1) return LOOPLM_POOL_DECLINED;
    if (atomic_flag_test_and_set_explicit(&pool->in_use, memory_order_acquire)) return LOOPLM_POOL_DECLINED;
    const uint64_t generation = ++pool->generation & generation_mask;  // what fits beside the chunk count
    if (chunks > 1) {
        pool->task = task;
        pool->context = context;
        publish(pool, (generation << 8) | (uint64_t)chunks);
    }
    task(context, 0);
    for (int w = 0; w + 1 < chunks; w++)
        for (unsigned spins = 1; atomic_load_explicit(&pool->slots[w].finished, memory_order_acquire) != generation; spins++)
            relax(spins);
    atomic_flag_clear_explicit(&pool->in_use, memory_order_release);
    return LOOPLM_POOL_DONE;
}
