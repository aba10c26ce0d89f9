import Foundation

/// A whole job: pre-commands, plan, backup, post-commands, as `cairn backup` runs it.
extension BackupJob {
    public struct Outcome: Sendable {
        public var result: Result?
        public var plan: BackupPlan?
        public var commands: [CommandRunner.Outcome]
        public var problems: [Problem]
        /// Why the job failed, if it did.
        public var failure: String?
    }

    /// Runs the set's job. `report` receives the plan's lines and the commands' output as they come.
    public static func run(_ context: SetContext, showPlan: Bool, report: @escaping @Sendable (String) -> Void) async -> Outcome {
        let jobID = (try? ObjectID.random()) ?? ObjectID([UInt8](repeating: 1, count: 32))
        let runner = CommandRunner(environment: context.environment)
        var outcome = Outcome(result: nil, plan: nil, commands: [], problems: [], failure: nil)
        let variables = ["CAIRN_SET": context.set.name, "CAIRN_JOB_ID": jobID.hex]

        func log(_ result: CommandRunner.Outcome) {
            for line in result.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast(result.output.hasSuffix("\n") ? 1 : 0) {
                report("[\(result.phase) \(result.command.name)] \(line)")
            }
            report(result.summary)
        }

        for command in context.set.commands.pre {
            let result = await runner.run(command, phase: "pre", variables: variables)
            outcome.commands.append(result)
            log(result)
            if !result.succeeded, command.onFailure == .abort {
                outcome.failure = "\(result.summary); the backup did not run (on-failure: continue would let it)"
                break
            }
        }
        if outcome.failure == nil {
            do {
                var job = try await plan(context)
                outcome.plan = job.plan
                if showPlan { job.plan.lines().forEach(report) }
                let result = try await job.execute(id: jobID) { Interruption.shared.isRequested }
                outcome.result = result
                outcome.problems = result.problems
                if result.snapshot.status == .partial {
                    outcome.failure = "interrupted: snapshot \(result.snapshotID.short) holds what was done and is marked partial; the next backup goes on from there"
                }
            } catch {
                outcome.failure = "\(error)"
            }
        }
        let status = outcome.failure != nil ? "failed" : outcome.problems.isEmpty ? "complete" : "incomplete"
        for command in context.set.commands.post {
            let result = await runner.run(command, phase: "post", variables: variables.merging(["CAIRN_STATUS": status]) { $1 })
            outcome.commands.append(result)
            log(result)
            if !result.succeeded, command.onFailure == .abort, outcome.failure == nil {
                outcome.failure = "\(result.summary) (on-failure: continue would let the job count as done)"
            }
        }
        return outcome
    }
}
