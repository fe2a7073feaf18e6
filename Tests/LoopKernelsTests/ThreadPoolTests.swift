import Dispatch
import Foundation
@testable import LoopKernels
import Testing

/// The spinning pool behind `Workers.forEachChunk`: every chunk runs exactly once, whether the
/// workers are spinning or asleep, whether the pool is free or busy with another caller's run.
@Suite struct ThreadPoolTests {
    /// Runs `runs` calls of forEachChunk over `threads` chunks; each chunk counts its own calls.
    func counts(_ workers: Workers, runs: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: workers.threads)
        counts.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            for _ in 0..<runs {
                workers.forEachChunk(workers.threads) { range, _ in
                    for chunk in range { base[chunk] += 1 }
                }
            }
        }
        return counts
    }

    @Test func everyChunkRunsOnceInEveryRun() throws {
        let workers = Workers(threads: 3)
        try #require(workers.pool != nil, "the system starts the pool's threads")
        #expect(counts(workers, runs: 5_000) == [5_000, 5_000, 5_000])
    }

    /// Past the spin time the workers sleep; a run wakes them.
    @Test func workersAsleepAreWoken() throws {
        let workers = Workers(threads: 2)
        for _ in 0..<5 {
            usleep(UInt32(ThreadPool.spinMicroseconds) * 3)
            #expect(counts(workers, runs: 3) == [3, 3])
        }
    }

    /// Callers on several threads at once: one has the pool, the others run their chunks on
    /// Dispatch, and every result is right.
    @Test func callersOnSeveralThreadsAtOnce() {
        let workers = Workers(threads: 2)
        let callers = 4, runs = 2_000
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: callers * 2)
        results.initialize(repeating: 0)
        defer { results.deallocate() }
        let base = UnsafeSendablePointer(results.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0..<runs {
                workers.forEachChunk(2) { range, _ in
                    for chunk in range { base.pointer[caller * 2 + chunk] += 1 }
                }
            }
        }
        #expect(Array(results) == [Int](repeating: runs, count: callers * 2))
    }

    /// A chunk that calls forEachChunk again (the pool is busy with the outer run) completes.
    @Test func nestedCallsComplete() {
        let workers = Workers(threads: 2)
        var sums = [Int](repeating: 0, count: 4)
        sums.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            workers.forEachChunk(2) { outer, _ in
                for o in outer {
                    workers.forEachChunk(2) { inner, _ in
                        for i in inner { base[o * 2 + i] += 10 * o + i + 1 }
                    }
                }
            }
        }
        #expect(sums == [1, 2, 11, 12])
    }

    @Test func runsWithMoreChunksThanThreadsAreDeclined() throws {
        let pool = try #require(ThreadPool(workers: 1))
        var ran = false
        #expect(pool.run(chunks: 3) { _ in ran = true } == false)
        #expect(!ran)
        var chunks: [Int] = []
        let lock = NSLock()
        #expect(pool.run(chunks: 2) { chunk in lock.withLock { chunks.append(chunk) } })
        #expect(chunks.sorted() == [0, 1])
    }

    /// Pools stop their threads when the last copy of their Workers goes.
    @Test func droppedWorkersStopTheirThreads() throws {
        func threads() -> Int? {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
            return status.split(separator: "\n").first { $0.hasPrefix("Threads:") }
                .flatMap { Int($0.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) }
        }
        guard let before = threads() else { return }  // not Linux
        for _ in 0..<50 {
            let workers = Workers(threads: 4)
            _ = counts(workers, runs: 2)
        }
        // Other suites run alongside and start threads of their own: 50 pools of 3 leaked
        // threads would be 150 more.
        let after = try #require(threads())
        #expect(after < before + 50, "\(before) threads before, \(after) after")
    }
}

/// A pointer that concurrent test closures may share (each writes its own elements).
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int>
    init(_ pointer: UnsafeMutablePointer<Int>) { self.pointer = pointer }
}
