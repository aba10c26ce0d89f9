import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List the files of a snapshot, or every retained version of each file.",
            discussion: """
                Lists the entries of the latest snapshot (or the one given by --at or \
                --snapshot) under PATH. With --all-versions, lists every version of each file \
                that any snapshot of the set holds: the user guide's "Show all files".

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var snapshotOptions: SnapshotOptions

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: "Only entries under this original path.")
        var path: String?

        @Flag(help: "List every version of each file held by any snapshot.")
        var allVersions = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let status = await CommandSupport.reporting("backup set '\(set)'") {
                let context = try SetContext(config: config, setName: set)
                guard let repository = try await context.openRepository() else {
                    throw SnapshotChoice.Failure.none("backup set '\(set)' has never been backed up")
                }
                let records = try await repository.snapshots()
                let under = path.map { FilePath(PathExpansion.normalize($0)) }
                let chosen = allVersions ? records.filter { $0.snapshot.set == set } : [try snapshotOptions.choice(in: config).pick(from: records, set: set)]
                var seen: [FilePath: Set<String>] = [:]
                let formatter = DateFormatter()
                formatter.timeZone = config.timeZone
                formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
                for record in chosen {
                    if !allVersions, record.snapshot.status != .complete {
                        Terminal.standardError("cairn: listing snapshot \(record.id.short) of \(record.snapshot.start)\(record.snapshot.statusNote)")
                    }
                    guard let root = record.snapshot.treeID else { continue }
                    try await SnapshotWalk.visit(repository, tree: root, at: .root) { path, entry in
                        if let under, !path.isInside(under) { return }
                        let version = "\(entry.size)/\(entry.mtime)/\(entry.contentHash?.hex ?? "")"
                        if allVersions {
                            guard seen[path, default: []].insert(version).inserted else { return }
                        }
                        let kind = entry.kind == .directory ? "d" : entry.kind == .symlink ? "l" : entry.kind == .file ? "-" : "s"
                        let line = "\(kind)\(String(format: "%04o", entry.mode & 0o7777)) \(String(entry.size).leftPadded(12)) \(formatter.string(from: entry.mtime.date)) \(path)"
                        let carried = entry.carried.map { "  (carried over: \($0))" } ?? ""
                        print(allVersions ? "\(line)  [\(record.id.short)\(record.snapshot.status == .partial ? ", partial" : "")]\(carried)" : line + carried)
                    }
                }
                return ExitStatus.success
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
