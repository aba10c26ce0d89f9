import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Expire named snapshots of a set, then delete what only they used.",
            discussion: """
                Expires exactly the snapshots named (ids of at least 4 characters, as cairn \
                snapshots lists them), whatever the retention policy says, then prunes as \
                cairn prune does: the data no remaining snapshot uses is deleted and mostly \
                empty packs are repacked, under the repository's exclusive lock, writing \
                before deleting, so an interrupted forget loses nothing another snapshot \
                uses. Every id must name one snapshot of the set, or nothing is done. \
                --dry-run says what would be expired and deleted, and changes nothing.

                Examples:
                  cairn forget documents 1a2b3c4d --dry-run  a dry run: what would go
                  cairn forget documents 1a2b 5e6f --json    expire two, report as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: ArgumentHelp("The snapshots to expire: ids or unique prefixes of at least 4 characters.", valueName: "id"))
        var ids: [String]

        @Flag(help: "Say what would be expired and deleted, and change nothing.")
        var dryRun = false

        @Flag(help: "Print the result as JSON (schemas/prune.schema.json, with policy \"forget\").")
        var json = false

        func validate() throws {
            if ids.isEmpty { throw ValidationError("name the snapshots to forget: their ids, as cairn snapshots lists them") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "forget", traffic: !json) { runner in
                await runner.run(lease: dryRun ? .shared : .exclusive) { repository in
                    let records = try await repository.snapshots()
                    var named: Set<String> = []
                    for id in ids { named.insert(try SnapshotChoice.id(id).pick(from: records, set: set, times: times).id.hex) }
                    // Asked of no policy: a stand-in that keeps everything, overridden by the names.
                    let evaluation = RetentionEvaluation(policy: .keepJobs(1_000_000), timeZone: config.timeZone)
                    let result = try await repository.prune(evaluation, now: runner.context.run.now, dryRun: dryRun, forget: named)
                    if json {
                        print(try Cairn.Prune.json(set: set, policy: "forget", dryRun: dryRun, result))
                    } else {
                        result.lines(policy: "forget", dryRun: dryRun, times: times).forEach { $0.hasPrefix("damaged: ") ? CommandSupport.finding($0) : print($0) }
                    }
                    return result.damaged.isEmpty ? .success : JobOutcome(.failed)
                }
            }
            try CommandSupport.finish(outcome)
        }
    }
}
