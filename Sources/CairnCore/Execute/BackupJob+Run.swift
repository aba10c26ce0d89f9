import Foundation

/// A whole job as `cairn backup` and `cairn apply` run it: pre-commands, plan (or a saved plan),
/// backup, post-commands, and the report in the job log.
extension BackupJob {
    public struct RunOptions: Sendable {
        /// `backup` or `apply`, for reports and leases.
        public var command: String
        /// Carry out this saved plan instead of a new one.
        public var saved: BackupPlan?
        public var strict = false
        /// Asked with the new plan before anything is stored (`cairn apply` on a terminal);
        /// nil carries out the plan without asking.
        public var confirm: (@Sendable (BackupPlan?) async -> Bool)?
        /// Skip the job when the plan has no changes (`cairn apply`).
        public var skipWithoutChanges = false
        /// Print the plan before running it; a plan not shown is not given an upload estimate.
        public var showPlan = true
        public var verbose = false
        public var colour = false
        /// How plans and prune lines print times.
        public var times: TimeText = .utc
        public var progress: (@Sendable (BackupPlan) -> ProgressDisplay?)?

        public init(command: String) {
            self.command = command
        }
    }

    public struct Outcome: Sendable {
        /// The job's outcome as every job reports it: failed, incomplete when entries could not
        /// be read or planned files had drifted (backed up as they are now), else success.
        public var jobOutcome: JobOutcome {
            if let failure { return JobOutcome(.failed, failure: "backup set '\(report.set)': \(failure)") }
            if let drifted = drift?.drifted, !drifted.isEmpty { return JobOutcome(.incomplete) }
            return .finished(problems: problems.count)
        }

        public var report: JobReport
        public var result: Result?
        public var drift: Drift?
        public var problems: [Problem]
        /// Why the job failed, if it did.
        public var failure: String?
        public var cancelled = false
        public var skipped = false
        /// The repository the job opened or created (a seed-load signs its manifest with its key).
        public var repository: Repository?
    }

    /// Prunes after a backup; a repository in use is left for the next run, not an error.
    static func prune(
        _ repository: Repository, _ retention: (name: String, evaluation: RetentionEvaluation), group: SnapshotGroup, now: Date,
        planned: [BackupPlan.Expiration], command: String, times: TimeText
    ) async -> [String] {
        do {
            let result = try await repository.withLease(.exclusive, command: "cairn \(command) (prune)") {
                try await repository.prune(retention.evaluation, now: now, dryRun: false, currentGroup: group, planned: planned)
            }
            return result.lines(policy: retention.name, dryRun: false, times: times)
        } catch {
            return ["prune skipped: \(error); the next backup or cairn prune does it"]
        }
    }

    /// Brings the set's local copy up to date under a shared lease (no prune removes packs
    /// meanwhile); a failure is reported, never the job's failure: the next run completes it.
    static func updateLocalCopy(_ context: SetContext, repository: Repository) async -> (line: String?, failure: String?) {
        let path = context.localCopyPath ?? "?"
        do {
            let copy = try context.localCopyStorage()
            let result = try await repository.withLease(.shared, command: "cairn local copy \(context.set.name)") {
                try await LocalCopy.mirror(from: repository.storage, to: copy)
            }
            if result.copied == 0 && result.removed == 0 { return ("local copy \(path): up to date", nil) }
            return ("local copy \(path): \(result.copied) file\(result.copied == 1 ? "" : "s") copied (\(ByteCountText.format(result.bytes))), \(result.removed) removed", nil)
        } catch {
            return (nil, "the local copy \(path) was not brought up to date: \(error); the backup itself is stored, and the next run completes the copy")
        }
    }

    public static func run(_ context: SetContext, options: RunOptions, output report: @escaping @Sendable (String) -> Void) async -> Outcome {
        let jobID = (try? ObjectID.random()) ?? ObjectID([UInt8](repeating: 1, count: 32))
        let started = context.run.now
        let runner = CommandRunner(context.run)
        var outcome = Outcome(
            report: JobReport(
                job: jobID.hex, set: context.set.name, command: options.command, host: context.run.hostName, start: Timestamp(started),
                end: Timestamp(started), status: "failed", snapshot: nil, plan: nil, statistics: nil, problems: [], drift: [], commands: [],
                failure: nil),
            result: nil, drift: nil, problems: [], failure: nil)
        let variables = ["CAIRN_SET": context.set.name, "CAIRN_JOB_ID": jobID.hex]

        func log(_ result: CommandRunner.Outcome) {
            for line in result.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast(result.output.hasSuffix("\n") ? 1 : 0) {
                report("[\(result.phase) \(result.command.name)] \(line)")
            }
            report(result.summary)
            outcome.report.commands.append(
                JobReport.CommandRecord(phase: result.phase, name: result.command.name, status: result.status, timedOut: result.timedOut, output: result.output))
        }

        func runPreCommands() async {
            for command in context.set.commands.pre {
                let result = await runner.run(command, phase: "pre", variables: variables)
                log(result)
                if !result.succeeded, command.onFailure == .abort {
                    outcome.failure = "\(result.summary); the backup did not run (on-failure: continue would let it)"
                    break
                }
            }
        }

        /// Post-commands (unless the job was skipped or cancelled before anything ran), and the
        /// report's status words, the same as the snapshot's.
        func finish(runPost: Bool) async -> Outcome {
            let status =
                outcome.cancelled ? "cancelled" : outcome.skipped ? "no changes"
                : outcome.result?.snapshot.status == .partial ? "partial"
                : outcome.failure != nil ? "failed" : outcome.problems.isEmpty ? "complete" : "incomplete"
            for command in context.set.commands.post where runPost {
                let result = await runner.run(command, phase: "post", variables: variables.merging(["CAIRN_STATUS": status]) { $1 })
                log(result)
                if !result.succeeded, command.onFailure == .abort, outcome.failure == nil {
                    outcome.failure = "\(result.summary) (on-failure: continue would let the job count as done)"
                }
            }
            outcome.report.status = outcome.failure != nil && status == "complete" ? "failed" : status
            outcome.report.end = Timestamp(context.run.now)
            outcome.report.failure = outcome.failure
            outcome.report.problems = outcome.problems.map { JobReport.ProblemRecord(path: $0.path.description, message: $0.message) }
            let traffic = context.traffic.summary
            outcome.report.storage = traffic.total > 0 ? traffic : nil
            return outcome
        }

        // The plan's counts made beside the run, when they are (`BackupJob.counting`): the job
        // report gets them once the run is over, failed or not.
        var counting: Task<BackupPlan.Summary, any Error>?
        do {
            var job: BackupJob
            // The estimate of what will be stored is for a plan someone sees.
            let estimating = options.saved == nil && (options.showPlan || options.confirm != nil)
            if let confirm = options.confirm, options.saved == nil {
                // Asked first: nothing runs, pre-commands included, until the answer is yes;
                // and nothing is stored that was not shown before a yes.
                let hasPre = !context.set.commands.pre.isEmpty
                var first: BackupJob?
                do {
                    first = try await plan(context, estimating: estimating)
                } catch {
                    // What the pre-commands make (a dump, a mount) may be what is missing now.
                    guard hasPre else { throw error }
                    report("before its pre-commands, the plan fails: \(error); they may change that, and run only after a yes")
                }
                if let first, options.showPlan { try first.plan.writeLines(verbose: options.verbose, colour: options.colour, times: options.times) { report($0) } }
                if let first, first.plan.refusal != nil, !hasPre {
                    job = first  // refused below; nothing to ask
                } else {
                    // With pre-commands there is always a question: they run only after a yes.
                    let asked = hasPre && first?.plan.hasChanges != true ? nil : first?.plan
                    guard await confirm(asked) else {
                        outcome.cancelled = true
                        return await finish(runPost: false)
                    }
                    // The job starts now: the time at the prompt is not part of it.
                    outcome.report.start = Timestamp(context.run.now)
                    if hasPre {
                        await runPreCommands()
                        guard outcome.failure == nil else { return await finish(runPost: true) }
                        // What the pre-commands wrote is backed up too: planned again, and
                        // asked again when that plan is not the one answered.
                        job = try await plan(context, estimating: estimating)
                        if try first.map({ try !job.plan.showsTheSame(as: $0.plan) }) ?? true {
                            report("after the pre-commands, the plan is:")
                            if options.showPlan { try job.plan.writeLines(verbose: options.verbose, colour: options.colour, times: options.times) { report($0) } }
                            if job.plan.refusal == nil {
                                guard await confirm(job.plan) else {
                                    outcome.cancelled = true
                                    return await finish(runPost: true)
                                }
                                outcome.report.start = Timestamp(context.run.now)
                            }
                        }
                    } else {
                        job = first!
                    }
                    job.started = outcome.report.start
                }
            } else {
                await runPreCommands()
                guard outcome.failure == nil else { return await finish(runPost: true) }
                // A plan no one looks at before the run is counted beside it.
                let countingLater = !options.showPlan && options.progress == nil && !options.skipWithoutChanges && options.saved == nil
                job = try await plan(context, estimating: estimating, countingLater: countingLater)
                if outcome.failure == nil, options.saved == nil, options.showPlan {
                    try job.plan.writeLines(verbose: options.verbose, colour: options.colour, times: options.times) { report($0) }
                }
            }
            counting = job.counting
            if outcome.failure == nil {
                outcome.report.plan = counting == nil ? job.plan.summary : nil
                if let saved = options.saved {
                    // A saved plan was shown when it was made: its estimate is the one the run had.
                    outcome.report.plan?.uploadEstimate = saved.summary.uploadEstimate
                    let drift = try await job.restrict(to: saved, strict: options.strict)
                    outcome.drift = drift
                    for (path, what) in drift.drifted { report("drifted: \(path) (\(what)): backed up as it is now") }
                    for path in drift.deferred { report("not in the plan: \(path): waits for the next plan") }
                    for path in drift.vanished { report("vanished: \(path)") }
                    outcome.report.drift = drift.drifted.map { "drifted \($0.path): \($0.what)" } + drift.deferred.map { "deferred \($0)" }
                        + drift.vanished.map { "vanished \($0)" }
                }
                if let refusal = job.plan.refusal {
                    outcome.failure = refusal
                } else if options.skipWithoutChanges && !job.plan.hasChanges && options.saved == nil {
                    outcome.skipped = true
                } else {
                    let progress = options.progress?(job.plan)
                    // A signal or the schedule's max-duration stops the job cleanly.
                    let stop = StopRequest()
                    let deadline = context.maxDuration.map { Date(timeIntervalSince1970: TimeInterval(job.started.seconds) + TimeInterval($0.seconds)) }
                    let deadlineWatch = deadline.map { stop.stop(at: $0, clock: context.run.clock) }
                    let unfollow = Interruption.shared.stop.forward(to: stop)
                    defer {
                        deadlineWatch?.cancel()
                        unfollow()
                    }
                    let result = try await job.execute(id: jobID, progress: progress, stop: stop)
                    progress?.clear()
                    outcome.repository = job.repository
                    outcome.result = result
                    outcome.problems = result.problems
                    outcome.report.snapshot = result.snapshotID.hex
                    outcome.report.statistics = result.snapshot.statistics
                    if !result.deltaOutcomes.isEmpty {
                        outcome.report.deltas = result.deltaOutcomes.map { JobReport.ProblemRecord(path: $0.path.description, message: $0.outcome) }
                    }
                    if result.snapshot.status == .partial {
                        let why =
                            stop.reason == .maxDuration
                            ? "stopped at max-duration \(context.maxDuration?.description ?? "")" : "interrupted"
                        outcome.failure =
                            "\(why): snapshot \(result.snapshotID.short) holds what was done and is marked partial (\(result.snapshot.statistics.carriedOver) entries not reached keep their previous version); the next backup goes on from there"
                    } else if let retention = context.retention, let repository = job.repository {
                        // After a successful backup, the policy expires what it no longer keeps.
                        // Exactly what the plan listed: retention was evaluated once, at the plan's time.
                        let planned = options.saved?.expirations ?? job.plan.expirations
                        outcome.report.prune = await Self.prune(
                            repository, retention, group: context.group, now: context.run.now, planned: planned, command: options.command, times: options.times)
                    }
                }
                if let taken = counting {
                    counting = nil
                    outcome.report.plan = await Self.counts(taken, report: report)
                }
                // The local copy follows the repository, whatever this run stored (a partial
                // snapshot too), and catches up on what an earlier run could not copy.
                if let copy = context.set.localCopy, !copy.only, context.seed == nil, let repository = job.repository,
                    outcome.failure == nil || outcome.result != nil
                {
                    let (line, failure) = await Self.updateLocalCopy(context, repository: repository)
                    outcome.report.localCopy = line
                    outcome.report.localCopyFailure = failure
                }
            }
        } catch {
            outcome.failure = "\(error)"
            if let counting { outcome.report.plan = await Self.counts(counting, report: report) }
        }
        return await finish(runPost: true)
    }

    /// The counts of a plan made beside the run, for its job report; nil, said in a line, when
    /// they could not be made (a tree of the previous snapshot that cannot be read).
    private static func counts(_ counting: Task<BackupPlan.Summary, any Error>, report: (String) -> Void) async -> BackupPlan.Summary? {
        do {
            return try await counting.value
        } catch {
            if !(error is CancellationError) { report("the plan's counts for the job report could not be made: \(error)") }
            return nil
        }
    }
}
