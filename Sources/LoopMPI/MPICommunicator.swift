import Foundation
import LoopTraining

#if MPI
import CMPI

/// A data-parallel job over MPI: every process of an `mpirun` launch is one rank. Failures of
/// MPI calls are returned as typed errors, not aborts (MPI_ERRORS_RETURN); a rank that dies
/// makes `mpirun` end the whole job.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let world: MPI_Comm

    /// Floats per MPI call: counts are C ints.
    static let maximumCount = 1 << 30

    init() throws {
        var provided: Int32 = 0
        try Self.check(MPI_Init_thread(nil, nil, looplm_mpi_thread_funneled(), &provided), "MPI_Init_thread")
        world = looplm_mpi_comm_world()
        MPI_Comm_set_errhandler(world, looplm_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    deinit { MPI_Finalize() }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != looplm_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(looplm_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw CommunicationError("\(call) failed: \(message)")
    }

    public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        var start = 0
        while start < count {
            let part = min(Self.maximumCount, count - start)
            try Self.check(MPI_Allreduce(looplm_mpi_in_place(), values + start, Int32(part), looplm_mpi_float(),
                                         looplm_mpi_sum(), world), "MPI_Allreduce")
            start += part
        }
    }

    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        var result = values
        try result.withUnsafeMutableBufferPointer { buffer in
            try Self.check(MPI_Allreduce(looplm_mpi_in_place(), buffer.baseAddress, Int32(buffer.count), looplm_mpi_double(),
                                         looplm_mpi_sum(), world), "MPI_Allreduce")
        }
        return result
    }

    public func allReduceMax(_ value: Int) throws -> Int {
        var result = Int64(value)
        try Self.check(MPI_Allreduce(looplm_mpi_in_place(), &result, 1, looplm_mpi_long_long(), looplm_mpi_max(), world),
                       "MPI_Allreduce")
        return Int(result)
    }

    public func barrier() throws { try Self.check(MPI_Barrier(world), "MPI_Barrier") }
}
#endif

/// The communicator for this process: MPI's when started by a launcher (`mpirun`) and built
/// with MPI, one process otherwise.
public enum Distributed {
    /// Whether LoopLM was built with MPI (`swift build --traits MPI`).
    public static var available: Bool {
        #if MPI
        true
        #else
        false
        #endif
    }

    /// Environment variables the usual launchers set in every process they start.
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"]

    /// Whether a launcher such as `mpirun` started this process.
    public static var launchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return launcherVariables.contains { environment[$0] != nil }
    }

    public static func communicator() throws -> any Communicator {
        guard launchedByMPI else { return SingleProcess() }
        #if MPI
        return try MPICommunicator()
        #else
        throw CommunicationError("this looplm was built without MPI but started by mpirun; every process would train alone and write the same files. Build it with `swift build -c release --traits MPI` (scripts/setup.sh installs Open MPI)")
        #endif
    }
}
