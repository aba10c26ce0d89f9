import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what changed between two snapshots of a set.",
            discussion: """
                Compares snapshot A with the newer snapshot B entry by entry and prints the \
                changes as cairn plan prints a run's: + new, ~ changed (with what differs: \
                size, content, mode, owner, link target, extended attributes, time), - \
                removed; an entry whose kind changed is shown as new, with what it was. \
                Without A and B, the two latest snapshots of the set; with A alone, A against \
                the latest. A and B are snapshot ids (at least 4 characters, as cairn \
                snapshots lists them), latest, or times as --at takes them (the newest \
                snapshot at or before it). Folders whose content is the same object in both \
                snapshots are not read. PATH limits the comparison to paths at or under it.

                Examples:
                  cairn diff documents                     the last run's changes
                  cairn diff documents 1a2b 5e6f           between two snapshots
                  cairn diff documents 2026-11-01 latest   since the start of November
                  cairn diff documents 1a2b --path /home/me/Projects --json
                                                           one folder since 1a2b, as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: ArgumentHelp("The older snapshot (default: the one before the latest).", valueName: "a"))
        var older: String?

        @Argument(help: ArgumentHelp("The newer snapshot (default: the latest).", valueName: "b"))
        var newer: String?

        @Option(help: ArgumentHelp("Compare only this path and what is under it (repeatable; globs as restore takes them).", valueName: "path"))
        var path: [String] = []

        @Flag(help: "Print the changes as JSON (schemas/diff.schema.json).")
        var json = false

        func validate() throws {
            for path in path where !path.hasPrefix("/") && !path.hasPrefix("*") {
                throw ValidationError("'\(path)' is not an absolute path: name files as they were backed up, such as /home/me/Documents")
            }
        }

        struct Document: Encodable {
            struct Side: Encodable {
                var id: String
                var start: Timestamp
            }
            var set: String
            var older: Side
            var newer: Side
            var changes: [SnapshotDiff.Change]
            var new: Int
            var changed: Int
            var removed: Int
            var bytesAdded: UInt64
            var bytesRemoved: UInt64
        }

        func run() async throws {
            let config = try source.config(options, set: set)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "diff", source: source) { runner in await runner.read { repository in
                let repository = repository!
                let records = try await repository.snapshots().filter { $0.snapshot.set == set }
                let now = CommandSupport.run.now
                let pick = { (text: String) in try SnapshotChoice.parse(text, in: config.timeZone, now: now).pick(from: records, set: set, times: times) }
                let a: SnapshotRecord
                let b: SnapshotRecord
                switch (older, newer) {
                case (nil, _):
                    guard records.count >= 2 else {
                        throw SnapshotChoice.Failure.none(
                            "backup set '\(set)' has \(records.count == 0 ? "no snapshots" : "one snapshot"): a diff needs two (name them, or back up again)")
                    }
                    (a, b) = (records[records.count - 2], records[records.count - 1])
                case (let first?, nil): (a, b) = (try pick(first), records.last!)
                case (let first?, let second?): (a, b) = (try pick(first), try pick(second))
                }
                let selection = PathSelection(path.map { FilePath(typed: PathExpansion.normalize($0)) })
                let roots = [a, b].compactMap(\.snapshot.treeID)
                if !selection.choosesEverything {
                    try await selection.requireMatches(in: repository, roots: roots, snapshot: "snapshot \(a.id.short) or \(b.id.short) of set '\(set)'")
                }
                let diff = try await SnapshotDiff.between(a.snapshot.treeID, b.snapshot.treeID, in: repository, selection: selection, times: times)
                let (new, changed, removed) = diff.counts
                if json {
                    let document = Document(
                        set: set, older: .init(id: a.id.hex, start: a.snapshot.start), newer: .init(id: b.id.hex, start: b.snapshot.start),
                        changes: diff.changes, new: new, changed: changed, removed: removed, bytesAdded: diff.bytesAdded, bytesRemoved: diff.bytesRemoved)
                    print(try JSONOutput.text(document))
                    return .success
                }
                print("from snapshot \(a.id.short) of \(times(a.snapshot.start)) to \(b.id.short) of \(times(b.snapshot.start))\(b.snapshot.start < a.snapshot.start ? " (older)" : ""):")
                let colour = ANSI.enabled(for: 1, environment: CommandSupport.run.variables)
                for change in diff.changes {
                    let line = change.line
                    guard colour else {
                        print(line)
                        continue
                    }
                    print(ANSI.wrap(line, change.action == .new ? ANSI.green : change.action == .changed ? ANSI.yellow : ANSI.red))
                }
                print(diff.summaryLine)
                return .success
            } }
            try CommandSupport.finish(outcome)
        }
    }
}
