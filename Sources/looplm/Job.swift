import ArgumentParser
import LoopKernels
import LoopMPI
import LoopTraining

/// The processes this command runs as: one, or every rank of an `mpirun` job.
struct Job {
    let communicator: any Communicator

    static func start() throws -> Job {
        Job(communicator: try Distributed.communicator())
    }

    /// Runs `body` for every rank this process holds and returns rank 0's result (in an MPI
    /// job, this process's rank): once with the job's communicator, or, with `replicas` > 1,
    /// once per replica, each on its own thread (`ThreadReplicas`).
    func eachRank<Result>(replicas: Int, _ body: @escaping @Sendable (any Communicator) throws -> Result) throws -> Result {
        guard replicas > 1 else { return try body(communicator) }
        guard communicator.size == 1 else {
            throw ValidationError("--replicas copies the model inside one process; under mpirun, start more processes instead")
        }
        return try ThreadReplicas.run(replicas: replicas, body)[0]
    }
}

/// What one rank of a job computes with: its communicator (whose size is the job's ranks:
/// processes, or replicas) and its threads.
struct Rank {
    let communicator: any Communicator
    let workers: Workers
}

/// `--replicas N`: data-parallel copies of the model in this process, `--threads` shared among them.
struct ReplicaOption: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Copies of the model trained side by side in this process, each on its own share of --threads and of every step's sequences (data parallelism without MPI: faster than splitting each matrix product when the matrices are small).",
        discussion: "With N replicas, --batch is per replica and a step trains on N × --batch × --accumulate sequences, as N MPI processes would; with --accumulate 1 the weights equal those of one replica with --accumulate N, bit for bit."))
    var replicas = 1

    func validate() throws {
        guard (1...Self.maximum).contains(replicas) else { throw ValidationError("--replicas must be in 1...\(Self.maximum)") }
    }

    static let maximum = 64

    /// Threads per replica: `--threads` divided evenly among the replicas.
    func threadsPerReplica(_ compute: ComputeOptions) throws -> Int {
        guard compute.threads % replicas == 0 else {
            throw ValidationError("--threads \(compute.threads) does not divide among \(replicas) replicas; give a multiple of \(replicas) (each replica runs on its own threads)")
        }
        return compute.threads / replicas
    }

    /// One replica's workers, made by that replica: each has its own threads (workers share
    /// their pool of threads, which runs one caller at a time).
    static func workers(threads: Int, _ compute: ComputeOptions) -> Workers {
        Workers(threads: threads, sgemm: compute.sgemm.kernel)
    }
}
