import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Back up sets now: plan, then carry out the plan without asking.",
            discussion: """
                Without SET, backs up every set bound to this host (or to no host). Each set's \
                plan is printed as cairn plan prints it, then carried out: new and changed files \
                are read, compressed, encrypted and stored, and a snapshot is committed. Files \
                that cannot be read are reported and the job ends with exit status 3. This is \
                the command a hand-written crontab line runs.

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The sets to back up (default: the sets of this host).")
        var sets: [String] = []

        @Flag(name: .shortAndLong, help: "Print only problems and the final line of each set.")
        var quiet = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            Interruption.shared.install()
            var statuses: [Int32] = []
            for name in try CommandSupport.sets(sets, in: config) {
                if Interruption.shared.isRequested { break }
                let context: SetContext
                do {
                    context = try SetContext(config: config, setName: name)
                } catch {
                    Terminal.standardError("cairn: error: \(error)")
                    statuses.append(ExitStatus.error)
                    continue
                }
                let outcome = await BackupJob.run(context, showPlan: !quiet) { print($0) }
                CommandSupport.printProblems(outcome.problems)
                if let result = outcome.result {
                    let statistics = result.snapshot.statistics
                    print(
                        "\(name): snapshot \(result.snapshotID.short) saved: \(statistics.files) files, \(ByteCountText.format(statistics.bytes)); read \(ByteCountText.format(statistics.bytesRead)), stored \(ByteCountText.format(statistics.bytesStored))\(result.problems.isEmpty ? "" : "; \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s")")"
                    )
                }
                if let failure = outcome.failure {
                    Terminal.standardError("cairn: error: backup set '\(name)': \(failure)")
                    statuses.append(ExitStatus.error)
                } else {
                    statuses.append(outcome.problems.isEmpty ? ExitStatus.success : ExitStatus.incomplete)
                }
            }
            let status = CommandSupport.combine(statuses)
            if status != 0 { throw ExitCode(status) }
        }
    }
}
