import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Tag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add tags to snapshots of a set, or remove them.",
            discussion: """
                Tags label snapshots (release, before-upgrade): cairn snapshots shows them, \
                and a retention policy's keep-tags keeps tagged snapshots whatever its rules \
                say (man 5 cairn.yaml). A tag is 1 to 64 letters, digits and - _ . : @. \
                Retagging writes the snapshot again with its new tags and removes the old \
                file: the snapshot gets a new id, printed, and holds the same files. A run \
                killed in between leaves both files; the old one is no longer listed, and \
                the next prune removes it.

                Examples:
                  cairn tag documents 1a2b3c4d --add release
                                                    label one snapshot
                  cairn tag documents 1a2b 5e6f --add keep --remove draft
                                                    relabel two snapshots

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: ArgumentHelp("The snapshots: ids or unique prefixes of at least 4 characters.", valueName: "id"))
        var ids: [String]

        @Option(help: ArgumentHelp("A tag to add (repeatable).", valueName: "tag"))
        var add: [String] = []

        @Option(help: ArgumentHelp("A tag to remove (repeatable).", valueName: "tag"))
        var remove: [String] = []

        func validate() throws {
            if ids.isEmpty { throw ValidationError("name the snapshots to tag: their ids, as cairn snapshots lists them") }
            if add.isEmpty && remove.isEmpty { throw ValidationError("give --add TAG or --remove TAG") }
            for tag in add + remove {
                if let problem = Snapshot.tagProblem(tag) { throw ValidationError(problem) }
            }
            if let both = add.first(where: remove.contains) { throw ValidationError("'\(both)' is both added and removed") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "tag") { runner in
                await runner.run(lease: .writer) { repository in
                    let records = try await repository.snapshots()
                    var chosen: [SnapshotRecord] = []
                    for id in ids {
                        let record = try SnapshotChoice.id(id).pick(from: records, set: set, times: times)
                        if !chosen.contains(where: { $0.id == record.id }) { chosen.append(record) }
                    }
                    for record in chosen {
                        var tags = (record.snapshot.tags ?? []).filter { !remove.contains($0) }
                        for tag in add where !tags.contains(tag) { tags.append(tag) }
                        if tags == (record.snapshot.tags ?? []) {
                            print("snapshot \(record.id.short): tags unchanged (\(tags.isEmpty ? "none" : tags.joined(separator: ", ")))")
                            continue
                        }
                        let retagged = try await repository.retag(record, tags: tags)
                        print("snapshot \(record.id.short) is now \(retagged.id.short): tags \(tags.isEmpty ? "none" : tags.joined(separator: ", "))")
                    }
                    return .success
                }
            }
            try CommandSupport.finish(outcome)
        }
    }
}
