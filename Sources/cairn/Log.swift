import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the past jobs of a set, or the report of one (the Backup Log).",
            discussion: """
                Without JOB, lists the set's jobs on this host, oldest first, one line \
                each: JOB, STARTED, STATUS, FILES, READ, STORED and PROBLEMS; without SET, \
                those of every set of this host, each under its name. With JOB (its id or \
                its first characters), prints that job's whole report. Only the log is \
                read: the repository is not opened. \
                Reports are kept as JSON under $XDG_STATE_HOME/cairn/logs/SET (by default \
                ~/.local/state/cairn/logs/SET) on the host that ran the job, with the plan's \
                summary, what was read, stored and deduplicated, problems, and the output of \
                the pre- and post-commands. A job's status is complete, incomplete (files that \
                could not be read kept their previous version: exit status 3), partial \
                (interrupted, or stopped at max-duration), failed (nothing saved: a missing \
                source, max-removed, a repository that has gone, an error), cancelled \
                (apply answered no: nothing ran) or no changes; a job's snapshot has the \
                same word in cairn snapshots.

                Examples:
                  cairn log documents           the set's jobs on this host
                  cairn log documents 3f9c      one job's whole report
                  cairn log --json              every set's reports, as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup set (default: every set of this host, each under its name).")
        var set: String?

        @Argument(help: "A job's id (or its first characters): show its whole report.")
        var job: String?

        @Flag(help: "Print as JSON.")
        var json = false

        func run() async throws {
            try await CommandSupport.forEachSet(set, json: json, options: options, command: "log") { config, set in
                do {
                    try show(config, set: set)
                    return .success
                } catch {
                    return JobOutcome(.failed, failure: "\(error)")
                }
            }
        }

        func show(_ config: Config, set: String) throws {
            guard config.backupSets[set] != nil else { CommandSupport.fail("no backup set named '\(set)' in the config") }
            let reports = JobLog(run: CommandSupport.run).reports(for: set)
            let times = options.times(config)
            if let job {
                let matches = reports.filter { $0.job.hasPrefix(job.lowercased()) }
                guard matches.count == 1, let report = matches.first else {
                    CommandSupport.fail(matches.isEmpty ? "no job \(job) in the log of set '\(set)'" : "\(job) names \(matches.count) jobs; give more of the id")
                }
                if json {
                    CommandSupport.printJSON(try JSONOutput.text(report))
                } else {
                    print(Self.details(report, times: times))
                }
                return
            }
            if json {
                CommandSupport.printJSON(try JSONOutput.text(reports))
                return
            }
            if reports.isEmpty {
                print("no jobs of set '\(set)' in the log of this host")
                return
            }
            print("JOB       " + "STARTED".padding(toLength: times.width + 1, withPad: " ", startingAt: 0) + "STATUS      FILES        READ      STORED  PROBLEMS")
            for report in reports {
                let statistics = report.statistics
                print([
                    String(report.job.prefix(8)).padding(toLength: 9, withPad: " ", startingAt: 0),
                    times(report.start),
                    report.status.padding(toLength: 11, withPad: " ", startingAt: 0),
                    String(statistics?.files ?? 0).leftPadded(5),
                    ByteCountText.format(statistics?.bytesRead ?? 0).leftPadded(11),
                    ByteCountText.format(statistics?.bytesStored ?? 0).leftPadded(11),
                    String(report.problems.count).leftPadded(9),
                ].joined(separator: " "))
            }
        }

        static func details(_ report: JobReport, times: TimeText) -> String {
            var lines = [
                "job \(report.job)", "set \(report.set) (\(report.command) on \(report.host))",
                "started \(times(report.start)), took \(String(format: "%.1f", report.duration)) s", "status \(report.status)",
            ]
            if let snapshot = report.snapshot { lines.append("snapshot \(snapshot)") }
            if let plan = report.plan {
                lines.append("planned \(plan.newFiles) new, \(plan.changedFiles) changed, \(plan.removed) removed, \(plan.unchangedFiles) unchanged; \(ByteCountText.format(plan.bytesToRead)) to read")
            }
            if let s = report.statistics {
                lines.append("read \(s.newFiles + s.changedFiles) files, \(ByteCountText.format(s.bytesRead)); stored \(ByteCountText.format(s.bytesStored)) in \(s.newObjects) objects; deduplicated \(ByteCountText.format(s.bytesDeduplicated))")
            }
            if let s = report.statistics, s.deltaFiles + s.fullUploads > 0 {
                lines.append("in-file delta: \(s.deltaFiles) stored as deltas, \(s.fullUploads) uploaded in full")
            }
            lines += (report.deltas ?? []).map { "in-file delta: \($0.path): \($0.message)" }
            lines += report.prune ?? []
            lines += report.drift.map { "drift: \($0)" }
            lines += report.problems.map { "problem: \($0.path): \($0.message)" }
            for command in report.commands {
                lines.append("\(command.phase)-command \(command.name): exit status \(command.status)\(command.timedOut ? " (timed out)" : "")")
                lines += command.output.split(separator: "\n").map { "  | \($0)" }
            }
            if let failure = report.failure { lines.append("failure: \(failure)") }
            return lines.map(times.restyle).joined(separator: "\n")
        }
    }
}
