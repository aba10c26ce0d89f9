import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a backup run would do, diff-style, without writing anything.",
            discussion: """
                For each set: + new files, ~ changed files (with their sizes), - entries gone \
                since the last snapshot (their last version stays restorable), + set NAME: new \
                repository for a set never backed up, and a summary line. Planning reads the \
                sources and the repository and never writes.

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The sets to plan (default: the sets of this host).")
        var sets: [String] = []

        @Flag(help: "Print the plans as JSON.")
        var json = false

        @Flag(help: "Exit with 2 when there are changes, 0 when there are none.")
        var detailedExitcode = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            var statuses: [Int32] = []
            var plans: [BackupPlan] = []
            for name in try CommandSupport.sets(sets, in: config) {
                statuses.append(await CommandSupport.reporting("backup set '\(name)'") {
                    let job = try await BackupJob.plan(try SetContext(config: config, setName: name))
                    CommandSupport.printProblems(job.scanProblems)
                    if json { plans.append(job.plan) } else { job.plan.lines().forEach { print($0) } }
                    return detailedExitcode && job.plan.hasChanges ? ExitStatus.changes : ExitStatus.success
                })
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(plans), as: UTF8.self))
            }
            let status = CommandSupport.combine(statuses)
            if status != 0 { throw ExitCode(status) }
        }
    }
}
