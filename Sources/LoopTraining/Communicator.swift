import LoopKernels

/// The processes of a data-parallel job and the collective operations training needs.
/// One process (`SingleProcess`) is the default; `looplm` built with MPI provides another
/// when started under `mpirun`. Every rank holds the whole model and calls the same
/// operations in the same order.
public protocol Communicator: AnyObject {
    var rank: Int { get }  // 0..<size
    var size: Int { get }  // processes in the job
    /// Every rank's `count` floats summed, in place on every rank.
    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// Every rank's doubles summed, on every rank.
    func allReduceSum(_ values: [Double]) throws -> [Double]
    /// The largest of every rank's value, on every rank.
    func allReduceMax(_ value: Int) throws -> Int
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ranks that share this process's memory: 1 for processes, N for N replicas on threads.
    var ranksInProcess: Int { get }
}

extension Communicator {
    public var ranksInProcess: Int { 1 }

    /// Rank 0 writes files and prints progress; the others only compute.
    public var isMain: Bool { rank == 0 }
}

/// A job of one process: every collective operation is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func allReduceSum(_ values: [Double]) -> [Double] { values }
    public func allReduceMax(_ value: Int) -> Int { value }
    public func barrier() {}
}

/// A collective operation that failed: a rank died or the network broke.
public struct CommunicationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "distributed training failed: \(message)" }
}
