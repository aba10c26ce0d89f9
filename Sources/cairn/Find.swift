import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find which snapshots of a set hold matching paths, and their versions.",
            discussion: """
                PATTERN is a glob (* ? [...]): without a slash it is matched against each \
                entry's name, with one against the whole path (a * there does not cross a \
                slash; ** does). Matching is case-sensitive unless -i. For each path found, \
                its versions are listed oldest first (a version is the same kind, size, \
                content and time), each with the snapshots that hold it: the version to \
                restore with cairn restore SET PATH --snapshot ID, or cairn dump for one file. \
                Folders whose content is the same object in several snapshots are searched once.

                Examples:
                  cairn find documents 'report*.odt'    by name, in any folder
                  cairn find documents '/home/me/Projects/**/*.swift' --json
                                                        by path, under a folder, as JSON
                  cairn find documents -i readme.md     by name, in upper or lower case

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: "A glob: against names without a slash, against whole paths with one.")
        var pattern: String

        @Flag(name: [.customShort("i"), .long], help: "Match without regard to case.")
        var ignoreCase = false

        @Flag(help: "Print the matches as JSON (schemas/find.schema.json).")
        var json = false

        struct Version: Encodable {
            struct Holder: Encodable {
                var id: String
                var start: Timestamp
            }
            var kind: String
            var size: UInt64
            var mtime: Timestamp
            var contentHash: String?
            var target: String?
            var snapshots: [Holder]
        }

        struct Match: Encodable {
            var path: String
            var versions: [Version]
        }

        func run() async throws {
            let config = try source.config(options, set: set)
            let times = options.times(config)
            let outcome = await CommandSupport.job(config, set: set, command: "find", source: source) { runner in await runner.read { repository in
                let repository = repository!
                let records = try await repository.snapshots().filter { $0.snapshot.set == set }
                var matcher = SnapshotSearch(pattern: pattern, ignoreCase: ignoreCase)
                var found: [FilePath: [Version]] = [:]
                var order: [FilePath] = []
                for record in records {
                    guard let root = record.snapshot.treeID else { continue }
                    for (path, entry) in try await matcher.matches(in: repository, root: root) {
                        let holder = Version.Holder(id: record.id.hex, start: record.snapshot.start)
                        let kind = BackupPlan.kindName(entry.kind)
                        let size = entry.kind == .file || entry.kind == .symlink ? entry.size : 0
                        let hash = entry.contentHash?.hex
                        if found[path] == nil { order.append(path) }
                        // A version that comes back after another is listed again, in its place.
                        if let last = found[path]?.last, last.kind == kind, last.size == size, last.mtime == entry.mtime, last.contentHash == hash {
                            found[path]![found[path]!.count - 1].snapshots.append(holder)
                        } else {
                            let target = entry.kind == .symlink ? FilePath.display(entry.symlinkTarget) : nil
                            found[path, default: []].append(
                                Version(kind: kind, size: size, mtime: entry.mtime, contentHash: hash, target: target, snapshots: [holder]))
                        }
                    }
                }
                let matches = order.sorted().map { Match(path: $0.description, versions: found[$0]!) }
                if json {
                    print(try JSONOutput.text(matches))
                    return .success
                }
                if matches.isEmpty {
                    print("no path of set '\(set)' matches \(pattern) in \(records.count) snapshot\(records.count == 1 ? "" : "s")")
                    return .success
                }
                for match in matches {
                    print(match.path)
                    for version in match.versions {
                        let what =
                            version.kind == "file"
                            ? ByteCountText.format(version.size) : version.kind == "symlink" ? "-> \(version.target ?? "")" : version.kind
                        let ids = version.snapshots.map { String($0.id.prefix(8)) }
                        let shown = ids.count > 6 ? ids.prefix(3).joined(separator: ", ") + ", ... " + ids.suffix(2).joined(separator: ", ") : ids.joined(separator: ", ")
                        let span =
                            version.snapshots.count == 1
                            ? times(version.snapshots[0].start) : "\(times(version.snapshots.first!.start)) to \(times(version.snapshots.last!.start))"
                        print(
                            "  \(what), modified \(times(version.mtime)): in \(version.snapshots.count) snapshot\(version.snapshots.count == 1 ? "" : "s") (\(span)): \(shown)"
                        )
                    }
                }
                let versions = matches.reduce(0) { $0 + $1.versions.count }
                print("\(matches.count) path\(matches.count == 1 ? "" : "s"), \(versions) version\(versions == 1 ? "" : "s"), in \(records.count) snapshot\(records.count == 1 ? "" : "s")")
                return .success
            } }
            try CommandSupport.finish(outcome)
        }
    }
}
