#ifndef LOOPLM_THREAD_POOL_H
#define LOOPLM_THREAD_POOL_H

/// Threads that wait for work by spinning for a while before they sleep, so that handing a
/// kernel's chunks to them costs a memory write instead of a thread wake-up. On the virtual
/// machines LoopLM runs on, waking a sleeping thread takes tens of microseconds, as long as a
/// whole decoding product: with threads that sleep between products, decoding on two threads
/// ran no faster than on one.
///
/// Chunk 0 of a run is done by the calling thread, chunk w + 1 by worker w; the call returns
/// when every chunk is done. One run at a time: a call made while another is under way (from
/// another thread, or from inside a chunk), or with more chunks than threads, returns
/// LOOPLM_POOL_DECLINED without running anything, and the caller does the work some other way.
typedef struct looplm_pool looplm_pool;
typedef void (*looplm_pool_task)(void *context, int chunk);

enum { LOOPLM_POOL_DONE = 0, LOOPLM_POOL_DECLINED = 1 };

/// A pool of `workers` threads (1 ≤ workers ≤ 253: with the caller, at most 254 chunks, below the stop code), or NULL when they cannot be started.
/// Idle workers spin for `spin_microseconds` after their last chunk, then sleep.
looplm_pool *looplm_pool_create(int workers, int spin_microseconds);

/// Stops and joins the workers, then frees the pool. No run may be under way.
void looplm_pool_destroy(looplm_pool *pool);

/// Runs task(context, c) for every c < chunks (1 ≤ chunks ≤ workers + 1).
int looplm_pool_run(looplm_pool *pool, int chunks, looplm_pool_task task, void *context);

#endif
