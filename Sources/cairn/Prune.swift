import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a set's retention policy: expire snapshots and delete what only they used.",
            discussion: """
                Expires the snapshots the set's retention policy does not keep (each with the \
                reason, as cairn plan and cairn retention preview show it), deletes the data no \
                kept snapshot uses and repacks packs that became mostly empty. Data a kept \
                version uses, an in-file delta's included, is never deleted. cairn backup and \
                cairn apply prune after each successful backup. Prune takes the repository's \
                exclusive lock, and writes before it deletes: an interrupted prune loses no \
                kept snapshot's data, and the next prune finishes the work. It also removes \
                the temporary files a killed backup left (a pack is written under a temporary \
                name while it fills); for a set without a retention policy, that is all it \
                does. --dry-run only says what would be done. On an object store (s3://), \
                the last line (storage:) counts the requests sent, by kind, and the bytes \
                each way; prune also aborts the multipart uploads killed runs left.

                The policy counts complete snapshots only: a partial one (interrupted) never \
                pushes a complete one out, and expires once a newer complete one exists. The \
                newest complete snapshot is never expired. Snapshots made by another writer of \
                the same repository (another host, another config whose set has other \
                sources, or this set before its sources changed) keep their newest complete \
                snapshot unless --expire-other-writers is given.

                Examples:
                  cairn prune documents --dry-run   what would be expired and deleted
                  cairn prune documents             expire, delete and repack
                  cairn prune --json                every set of this host, as JSON
                  cairn prune documents --expire-other-writers
                                                    the newest snapshot of other writers
                                                    (such as old sources) may go too

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup set (default: every set of this host, each under its name).")
        var set: String?

        @Flag(help: "Say what would be expired and deleted, and change nothing.")
        var dryRun = false

        @Flag(help: "Print the result as JSON (schemas/prune.schema.json).")
        var json = false

        @Flag(help: "Also let the policy expire the newest complete snapshot of writers this config no longer is (another host, another config's sources, or the set's sources before they changed).")
        var expireOtherWriters = false

        func run() async throws {
            try await CommandSupport.forEachSet(set, json: json, options: options, command: "prune") { config, set in
                await prune(config, set: set)
            }
        }

        /// The document of a set without a retention policy: nothing expires.
        func keepingAll(_ set: String, removed: Int) throws -> String {
            let document: [String: Any] = [
                "set": set, "policy": NSNull(), "dry_run": dryRun, "packs_deleted": 0, "packs_repacked": 0, "bytes_freed": 0,
                "damaged": [String](), "snapshots": [Any](), "temporary_files_removed": removed,
            ]
            return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
        }

        func prune(_ config: Config, set: String) async -> JobOutcome {
            await CommandSupport.job(config, set: set, command: "prune", traffic: !json) { runner in
                if runner.context.retention == nil && dryRun {
                    // Nothing to change, so no lease: only that the repository is there.
                    do {
                        _ = try await runner.existingRepository()
                        if json { CommandSupport.printJSON(try keepingAll(set, removed: 0)) }
                    } catch {
                        return runner.failed(error)
                    }
                    if !json {
                        print("backup set '\(set)' has no retention policy: every snapshot is kept; a prune would only remove the temporary files of killed runs")
                    }
                    return .success
                }
                return await runner.run(lease: dryRun ? .shared : .exclusive) { repository in
                    let context = runner.context
                    guard let retention = context.retention else {
                        // Nothing expires, but what killed runs left behind still goes.
                        var removed = 0
                        for prefix in ["data/", "index/", "snapshots/"] { removed += try await repository.storage.removeAbandonedUploads(prefix: prefix) }
                        if json {
                            CommandSupport.printJSON(try keepingAll(set, removed: removed))
                            return .success
                        }
                        print("backup set '\(set)' has no retention policy: every snapshot is kept; removed \(removed) temporary file\(removed == 1 ? "" : "s") of killed runs")
                        return .success
                    }
                    // Repacking reads and writes packs: its progress, on a terminal.
                    let progress = CommandSupport.LateProgress(noun: "packs repacked", shown: !json)
                    let result = try await repository.prune(
                        retention.evaluation, now: context.run.now, dryRun: dryRun, currentGroup: expireOtherWriters ? nil : context.group,
                        progress: progress.make)
                    progress.clear()
                    if json {
                        CommandSupport.printJSON(try Self.json(set: set, policy: retention.name, dryRun: dryRun, result))
                    } else {
                        result.lines(policy: retention.name, dryRun: dryRun, times: options.times(config)).forEach { $0.hasPrefix("damaged: ") ? CommandSupport.finding($0) : print($0) }
                    }
                    return result.damaged.isEmpty ? .success : JobOutcome(.failed)
                }
            }
        }

        /// The result as `--json` prints it (schemas/prune.schema.json); shared with forget.
        static func json(set: String, policy: String, dryRun: Bool, _ result: Repository.PruneResult) throws -> String {
            let document: [String: Any] = [
                "set": set, "policy": policy, "dry_run": dryRun, "packs_deleted": result.packsDeleted,
                "packs_repacked": result.packsRepacked, "bytes_freed": max(0, result.bytesFreed), "damaged": result.damaged,
                "snapshots": result.verdicts.map {
                    ["id": $0.record.id.hex, "start": $0.record.snapshot.start.description, "keep": $0.verdict.keep, "reasons": $0.verdict.reasons]
                        as [String: Any]
                },
            ]
            return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
        }
    }
}
