import Foundation

/// Data parallelism inside one process: `size` copies of the model, each trained on its own
/// thread with its own share of every step's micro-batches, their gradients summed between
/// the threads — what `mpirun -np N` does with processes, without MPI.
///
/// Why: a matrix product of a small model split over two threads runs at 60–65% of the
/// cores' peak (each thread's half is too small to amortise the packing and the split), while
/// each thread multiplying whole matrices of its own half-batch runs at 85%. Every rank calls
/// the same collective operations in the same order, as under MPI. With one micro-batch per
/// replica, a step of N replicas equals one process accumulating N micro-batches bit for bit:
/// each element of the sum is added in rank order, ((G₀ + G₁) + G₂) + …, as the trainer adds
/// micro-batches. (With k > 1 micro-batches per replica the sum is grouped by replica, within
/// rounding of the same.)
public enum ThreadReplicas {
    /// Runs `body` once per rank, each on its own thread with that rank's communicator, and
    /// returns the results in rank order. When a rank throws, the others are released from
    /// whatever collective they wait in (it throws `CommunicationError`), and the error of the
    /// rank that failed first is rethrown.
    public static func run<Result>(replicas: Int, _ body: @escaping @Sendable (any Communicator) throws -> Result) throws -> [Result] {
        precondition(replicas >= 1, "at least one replica")
        let group = ReplicaGroup(size: replicas)
        let outcomes = Outcomes<Result>(count: replicas)
        let finished = DispatchGroup()
        for rank in 0..<replicas {
            finished.enter()
            let thread = Thread {
                let communicator = ReplicaCommunicator(rank: rank, group: group)
                do {
                    outcomes.set(rank, .success(try body(communicator)))
                    group.depart()
                } catch {
                    group.abandon(because: error)
                    outcomes.set(rank, .failure(error))
                }
                finished.leave()
            }
            thread.stackSize = stackBytes
            thread.start()
        }
        finished.wait()
        if let error = group.failure { throw error }
        return try outcomes.values.map { try $0!.get() }
    }

    /// Each replica's thread runs the whole model, as the main thread does.
    static let stackBytes = 8 << 20
}

/// One rank's view of a `ReplicaGroup`.
final class ReplicaCommunicator: Communicator {
    let rank: Int
    let group: ReplicaGroup
    var size: Int { group.size }

    init(rank: Int, group: ReplicaGroup) {
        self.rank = rank
        self.group = group
    }

    /// Every rank publishes its buffer; then each rank sums its own slice of the elements over
    /// all ranks, in rank order, and writes the sum into every rank's buffer.
    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        let buffers = try group.exchange(rank: rank, .sumFloats, UnsafeSendablePointer(values, count: count))
        guard buffers.allSatisfy({ $0.count == count }) else {  // every rank sees this before anything is written
            throw CommunicationError("the replicas summed buffers of different lengths (\(buffers.map(\.count))): they did not call the same operations")
        }
        let share = (count + size - 1) / size, lower = min(count, rank * share), upper = min(count, lower + share)
        let pointers = buffers.map(\.pointer)
        if size == 2 {  // the usual case, in a loop the compiler vectorises
            let a = pointers[0], b = pointers[1]
            for i in lower..<upper {
                let sum = a[i] + b[i]
                a[i] = sum
                b[i] = sum
            }
        } else {
            for i in lower..<upper {
                var sum = pointers[0][i]
                for other in 1..<size { sum += pointers[other][i] }
                for other in 0..<size { pointers[other][i] = sum }
            }
        }
        _ = try group.exchange(rank: rank, .sumDone, 0)  // no rank returns while another still writes into its buffer
    }

    func allReduceSum(_ values: [Double]) throws -> [Double] {
        let all = try group.exchange(rank: rank, .sumDoubles, values)
        return (0..<values.count).map { i in all.dropFirst().reduce(all[0][i]) { $0 + $1[i] } }
    }

    func allReduceMax(_ value: Int) throws -> Int { try group.exchange(rank: rank, .maximum, value).max()! }

    func barrier() throws { _ = try group.exchange(rank: rank, .barrier, 0) }

    var ranksInProcess: Int { size }
}

/// A raw buffer handed between the threads of one collective, which keep it alive.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        self.pointer = pointer
        self.count = count
    }
}

/// The collective operation a rank is in, so that ranks in different ones fail instead of
/// pairing up.
enum Collective: Equatable {
    case sumFloats, sumDone, sumDoubles, maximum, barrier
}

/// What the ranks of one process share: a rendezvous where every rank leaves a value and
/// gets every rank's, and the error that ended the group.
final class ReplicaGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [(Collective, Any)?]
    private var arrived = 0
    private var generation = 0
    private var published: [(Collective, Any)] = []
    private var firstError: Error?
    private var departed = false  // a rank has finished its work

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// Waits until every rank has called it (in the same round) and returns their values in
    /// rank order; throws when a rank has failed, instead of waiting for it forever.
    func exchange<Value>(rank: Int, _ operation: Collective, _ value: Value) throws -> [Value] {
        condition.lock()
        defer { condition.unlock() }
        if let failure = firstError { throw CommunicationError("replica failed: \(failure)") }
        if departed { throw Self.mismatch }
        let round = generation
        slots[rank] = (operation, value)
        arrived += 1
        if arrived == size {
            published = slots.map { $0! }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == round && firstError == nil && !departed { condition.wait() }
            if generation == round {
                if let failure = firstError { throw CommunicationError("replica failed: \(failure)") }
                throw Self.mismatch
            }
        }
        let values = published.compactMap { $0.0 == operation ? $0.1 as? Value : nil }
        guard values.count == size else {
            throw CommunicationError("the replicas called different collective operations at once (\(published.map { "\($0.0)" })): they did not call the same operations")
        }
        return values
    }

    /// A collective that can never complete: programmer error, thrown rather than hanging.
    static let mismatch = CommunicationError("a replica finished while another waits in a collective operation: the replicas did not call the same operations")

    /// The error of the rank that failed first, once every rank has ended.
    var failure: Error? {
        condition.lock()
        defer { condition.unlock() }
        return firstError
    }

    /// A rank finished its work: a rank still waiting in a collective would wait forever.
    func depart() {
        condition.lock()
        departed = true
        condition.broadcast()
        condition.unlock()
    }

    /// A rank ended with an error: the others stop waiting.
    func abandon(because error: Error) {
        condition.lock()
        if firstError == nil { firstError = error }
        condition.broadcast()
        condition.unlock()
    }
}

/// The result of each rank, written by its own thread.
private final class Outcomes<Result>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Swift.Result<Result, Error>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ rank: Int, _ outcome: Swift.Result<Result, Error>) {
        lock.lock()
        results[rank] = outcome
        lock.unlock()
    }
    var values: [Swift.Result<Result, Error>?] {
        lock.lock()
        defer { lock.unlock() }
        return results
    }
}
