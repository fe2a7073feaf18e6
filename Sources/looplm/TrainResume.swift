import ArgumentParser
import LoopCheckpoint
import LoopModel
import LoopTokenizer
import LoopTraining

extension TrainCommand {
    /// `--resume`: the saved run, with only the changes that keep it the same run. A flag that
    /// asks for another value of anything else is refused by name, never silently ignored.
    func resumeSession(tokenizer: TokenizerKind, rank: Rank) throws -> TrainingSession {
        let latest = out + "/latest"
        var changes = ResumeChanges(evalInterval: evalInterval, checkpointInterval: checkpointInterval)
        if Checkpoint.resolve(latest) == latest {  // otherwise `resume` says there is nothing to resume
            let (config, _) = try Checkpoint.readConfig(from: latest)
            let saved = try TrainingState.read(directory: latest, contextLength: config.contextLength).0
            let conflicts = model.contradictions(with: config, allowingLoops: false)
                + optionConflicts(saved.options, processes: saved.ranks)
            guard conflicts.isEmpty else {
                throw ValidationError("--resume continues \(out) with its saved options; these flags ask for others: \(conflicts.joined(separator: ", ")). Drop them, or start a new run in another --out")
            }
            changes.totalSteps = try totalSteps(tokensPerStep: saved.options.tokensPerStep)
        }
        return try TrainingSession.resume(in: out, vocabulary: Vocabulary(tokenizer), changes: changes, workers: rank.workers,
                                          communicator: rank.communicator, data: load(tokenizer))
    }

    /// The training flags given that differ from the saved options.
    func optionConflicts(_ saved: TrainingOptions, processes: Int) -> [String] {
        var found: [String] = []
        func check<T: Equatable>(_ flag: String, _ given: T?, _ actual: T) {
            if let given, given != actual { found.append("\(flag) \(given) (saved: \(actual))") }
        }
        check("--batch", batch, saved.batch)
        check("--context", context, saved.time)
        check("--accumulate", accumulate, saved.microBatches / max(processes, 1))
        check("--lr", lr, saved.schedule.peak)
        check("--min-lr", minLr, saved.schedule.minimum)
        check("--warmup", warmup, saved.schedule.warmupSteps)
        check("--weight-decay", weightDecay, saved.weightDecay)
        check("--clip", clip, saved.maxGradientNorm ?? 0)
        check("--seed", seed, saved.seed)
        check("--eval-batches", evalBatches, saved.evalBatches)
        if let backpropLoops, backpropLoops != saved.gradientLoops {
            found.append("--backprop-loops \(backpropLoops) (saved: \(saved.gradientLoops.map(String.init) ?? "all passes"))")
        }
        if let loopsSample, loopsSample != saved.loopSampling { found.append("--loops-sample \(loopsSample) (saved: \(saved.loopSampling?.description ?? "none"))") }
        if recompute && saved.recompute != true { found.append("--recompute (saved: off)") }
        if loopLoss != nil || trainGateOnly, objective != saved.loopObjective {
            found.append("the loop objective \(objective?.description ?? "last") (saved: \(saved.loopObjective?.description ?? "last"))")
        }
        return found
    }
}
