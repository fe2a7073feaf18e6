import LoopMPI
import LoopTraining

/// The processes this command runs as: one, or every rank of an `mpirun` job.
struct Job {
    let communicator: any Communicator

    static func start() throws -> Job {
        Job(communicator: try Distributed.communicator())
    }
}
