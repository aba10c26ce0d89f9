import ArgumentParser
import CairnCore
import Foundation

/// Running backup jobs for `cairn backup` and `cairn apply`: output, progress, reports, the job
/// log and the exit status.
enum JobRunning {
    /// Runs each set's job with the options `make` gives it; returns the combined exit status.
    static func run(
        config: Config, sets: [String], quiet: Bool, json: Bool = false, deltaMode: DeltaModeOverride? = nil, safety: SafetyOptions? = nil,
        make: (String) -> BackupJob.RunOptions
    ) async -> Int32 {
        Interruption.shared.install()
        var outcomes: [JobOutcome] = []
        var reports: [JobReport] = []
        for name in sets {
            if Interruption.shared.isRequested { break }
            let (outcome, report) = await runOne(
                config: config, set: name, quiet: quiet || json, json: json, finalLine: !quiet, deltaMode: deltaMode, safety: safety, options: make(name))
            outcomes.append(outcome)
            if let report { reports.append(report) }
        }
        // The reports as the job log keeps them (cairn log --json prints the same documents).
        if json { print((try? JSONOutput.text(reports)) ?? "[]") }
        return CommandSupport.exitStatus(JobOutcome.worst(outcomes))
    }

    /// Runs one set's job: prints its plan, progress and report, keeps the report in the job
    /// log and the status file, then sends it to the set's notify channels; returns the
    /// outcome with the report (nil when the set could not be set up). `recorded` runs once
    /// the job's end is recorded and before anything is sent (run-due records its run state
    /// there), so that a channel that hangs cannot leave the job unrecorded.
    static func runOne(
        config: Config, set name: String, quiet: Bool, json: Bool = false, finalLine: Bool = true, deltaMode: DeltaModeOverride? = nil,
        safety: SafetyOptions? = nil,
        options made: BackupJob.RunOptions, recorded: (JobOutcome, JobReport?) -> Void = { _, _ in }
    ) async -> (outcome: JobOutcome, report: JobReport?) {
        let notify = config.backupSets[name]?.notify ?? []
        let notifier = Notifier(run: CommandSupport.run, zone: config.timeZone)
        var context: SetContext
        do {
            context = try SetContext(config: config, setName: name, run: CommandSupport.run)
            context.deltaOverride = deltaMode
            safety?.apply(to: &context)
        } catch {
            Terminal.standardError("cairn: error: \(error)")
            let failed = JobOutcome(.failed, failure: nil)
            recorded(failed, nil)
            await reportFailure(config: config, set: name, command: made.command, failure: "\(error)", context: nil)
            return (failed, nil)
        }
        // Healthchecks-style pings hear of the start; not an apply that asks first (a person
        // at a terminal may say no, and nothing then runs).
        if made.confirm == nil {
            warn(await notifier.send(.start(set: name, host: CommandSupport.run.hostName, command: made.command), to: notify))
        }
        var options = made
        options.showPlan = options.showPlan && !quiet
        if !quiet {
            let terminal = isatty(2) == 1
            options.progress = { plan in
                ProgressDisplay(
                    files: plan.summary.newFiles + plan.summary.changedFiles, bytes: plan.summary.bytesToRead, terminal: terminal,
                    clock: CommandSupport.run.clock, columns: Int(CommandSupport.run.variables["COLUMNS"] ?? "") ?? 100
                ) {
                    FileHandle.standardError.write(Data($0.utf8))
                }
            }
        }
        // With --json, standard output is the JSON document alone: lines go to standard error.
        let say: @Sendable (String) -> Void = { line in
            if json { Terminal.standardError(line) } else { print(line) }
        }
        let outcome = await BackupJob.run(context, options: options) { say($0) }
        CommandSupport.printProblems(outcome.problems)
        if !json && finalLine { outcome.report.summaryLines().forEach { print($0) } }
        if outcome.skipped { say("\(name): no changes; nothing to do") }
        if let failure = outcome.report.localCopyFailure { Terminal.standardError("cairn: warning: backup set '\(name)': \(failure)") }
        if outcome.cancelled { say("\(name): cancelled; nothing was stored") }
        let job = outcome.jobOutcome
        var report = outcome.report
        // A job skipped for want of changes, that ran no command, leaves nothing worth a log
        // entry; a cancelled one (an apply answered no) is logged as cancelled, and is neither
        // a job for the status file nor news for the channels.
        let log = JobLog(run: CommandSupport.run)
        let worthLogging = !outcome.skipped || !outcome.report.commands.isEmpty
        if worthLogging { warn(log.save(report)) }
        if !outcome.cancelled { warn(SetStatus.record(report, context: context)) }
        if !outcome.cancelled, worthLogging { warn(await context.reportToServer(report)) }
        warn(MetricsFile.update(config: config, run: CommandSupport.run))
        if let failure = job.failure {
            Terminal.standardError("cairn: error: \(failure)")
        } else if let drifted = outcome.drift?.drifted, !drifted.isEmpty {
            // Drift is not success: what was stored is not what the plan showed.
            Terminal.standardError(
                "cairn: warning: backup set '\(name)': \(drifted.count) planned entr\(drifted.count == 1 ? "y" : "ies") had changed since the plan and \(drifted.count == 1 ? "was" : "were") backed up as \(drifted.count == 1 ? "it is" : "they are") now (--strict refuses instead)")
        }
        recorded(job, report)
        if !outcome.cancelled {
            let failed = await notifier.send(.finish(report, exitStatus: CommandSupport.exitStatus(job)), to: notify)
            warn(failed)
            if !failed.isEmpty {
                // Kept with the job's report: the log says what did not get through.
                report.notifyFailures = failed
                warn(log.save(report))
            }
        }
        return (job, report)
    }

    /// A job of the set that failed without running (it could not be set up, or run-due gave
    /// up on it): logged, in the status file, and sent to the set's channels as a failure.
    static func reportFailure(config: Config, set name: String, command: String, failure: String, context: SetContext?) async {
        let run = CommandSupport.run
        var report = JobReport.failedToStart(set: name, command: command, host: run.hostName, at: run.now, failure: failure)
        let log = JobLog(run: run)
        warn(log.save(report))
        if let context { warn(SetStatus.record(report, context: context)) }
        warn(MetricsFile.update(config: config, run: run))
        let notify = config.backupSets[name]?.notify ?? []
        let failed = await Notifier(run: run, zone: config.timeZone).send(.finish(report, exitStatus: CommandSupport.exitStatus(JobOutcome(.failed))), to: notify)
        warn(failed)
        if !failed.isEmpty {
            report.notifyFailures = failed
            warn(log.save(report))
        }
    }

    static func warn(_ warning: String?) {
        if let warning { Terminal.standardError("cairn: warning: \(warning)") }
    }

    static func warn(_ warnings: [String]) { warnings.forEach { warn($0) } }
}

extension DeltaModeOverride: ExpressibleByArgument {}

/// `--delta-mode`, shared by plan, apply and backup.
struct DeltaModeOption: ParsableArguments {
    @Option(
        name: .customLong("delta-mode"),
        help: ArgumentHelp(
            "For this run, store changed files of sets with in-file delta in full, or as incremental or differential deltas, whatever the sets say.",
            valueName: "full|incremental|differential"))
    var mode: DeltaModeOverride?
}

/// `--max-removed` and `--new-repository`, shared by plan, apply and backup.
struct SafetyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "For this run, the share of the previous snapshot's files that may be recorded as removed before the run stops (default: the set's max-removed, 50%).",
            valueName: "percent|off"))
    var maxRemoved: String?

    @Flag(help: "Create a new repository for a set that has backed up before but whose repository is not there (without it, such a run stops: is the disk mounted?).")
    var newRepository = false

    func validate() throws {
        guard let maxRemoved, maxRemoved != "off" else { return }
        guard let percent = Percentage(parsing: maxRemoved), percent.value >= 0, percent.value <= 100 else {
            throw ValidationError("--max-removed takes a percentage from 0% to 100%, or off, found '\(maxRemoved)'")
        }
    }

    func apply(to context: inout SetContext) {
        if let maxRemoved { context.maxRemoved = maxRemoved == "off" ? nil : Percentage(parsing: maxRemoved) }
        if newRepository { context.newRepository = true }
    }
}
