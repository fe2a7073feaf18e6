import LoopKernels
import LoopTraining
import Testing

@Suite struct ThreadReplicasTests {
    struct Refused: Error, Equatable {}

    /// Every rank ends with the element-wise sum over ranks, added in rank order (((a + b) + c),
    /// as the trainer adds micro-batches), and the other collectives agree on every rank.
    @Test func collectivesGiveEveryRankTheSameSumInRankOrder() throws {
        let count = 1001  // not a multiple of the ranks: the last rank's share is shorter
        // Every third element is 1e8, −1e8, 1 across the ranks: (1e8 − 1e8) + 1 = 1 in rank order,
        // but 1e8 + (−1e8 + 1) = 0 in Float, so any other grouping shows.
        @Sendable func value(_ rank: Int, _ i: Int) -> Float {
            i % 3 == 0 ? [1e8, -1e8, 1][rank] : Float(i % 97) * 0.1 + Float(rank) * 1e-7 + 1 / Float(3 + rank)
        }
        let results = try ThreadReplicas.run(replicas: 3) { communicator -> ([Float], [Double], Int) in
            let buffer = try FloatBuffer(count: count)
            for i in 0..<count { buffer[i] = value(communicator.rank, i) }
            try communicator.allReduceSum(buffer.pointer, count: count)
            let doubles = try communicator.allReduceSum([Double(communicator.rank), 0.5])
            let largest = try communicator.allReduceMax(10 - communicator.rank)
            try communicator.barrier()
            return (buffer.array, doubles, largest)
        }
        let expected = (0..<count).map { i in (value(0, i) + value(1, i)) + value(2, i) }
        #expect(expected[0] == 1 && value(0, 0) + (value(1, 0) + value(2, 0)) == 0, "the check tells orders apart")
        for (sums, doubles, largest) in results {
            #expect(sums == expected)
            #expect(doubles == [3, 1.5])
            #expect(largest == 10)
        }
    }

    /// A rank that fails releases the ranks waiting for it in a collective, and its own error is
    /// the one thrown: a replica's error never hangs the process.
    @Test func aFailingRankReleasesTheOthers() throws {
        #expect(throws: Refused()) {
            _ = try ThreadReplicas.run(replicas: 2) { communicator in
                if communicator.rank == 1 { throw Refused() }
                var value: Float = 1
                try communicator.allReduceSum(&value, count: 1)  // rank 1 never comes
                try communicator.barrier()
            }
        }
    }

    @Test func oneReplicaIsRankZeroOfOne() throws {
        let sizes = try ThreadReplicas.run(replicas: 1) { communicator in [communicator.rank, communicator.size] }
        #expect(sizes == [[0, 1]])
    }
}

extension ThreadReplicasTests {
    /// Ranks in different collectives at once fail, rather than pairing a barrier with a maximum.
    @Test func ranksInDifferentCollectivesFail() throws {
        #expect(throws: CommunicationError.self) {
            _ = try ThreadReplicas.run(replicas: 2) { communicator in
                if communicator.rank == 0 { try communicator.barrier() } else { _ = try communicator.allReduceMax(1) }
            }
        }
    }

    /// Replicas that call different collectives end with an error instead of waiting forever.
    @Test func aRankLeftWaitingAloneThrows() throws {
        #expect(throws: CommunicationError.self) {
            _ = try ThreadReplicas.run(replicas: 2) { communicator in
                if communicator.rank == 1 { try communicator.barrier() }  // rank 0 never comes
            }
        }
    }
}
