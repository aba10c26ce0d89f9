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
                --snapshot): PATH (an original absolute path, or a glob as restore takes) and \
                what is under it, one line each as ls -l shows them: the kind (- file, d \
                folder, l symbolic link, p fifo, s socket, c and b devices) and mode, the size \
                (a device's major,minor), the time and the path, and a link's target after \
                ->. With --all-versions, lists every version of each file that \
                any snapshot of the set holds: the user guide's "Show all files". A PATH that \
                matches nothing in the snapshot (with --all-versions, in any snapshot of the \
                set) is an error naming it and the snapshot, not an empty listing. An entry \
                the run did not read, and kept from the previous snapshot, ends with \
                "(carried over: not reached|read failed|source absent)"; listing a partial or \
                incomplete snapshot says so on standard error, and --all-versions marks \
                versions from partial snapshots. --json prints every entry with its path \
                (escaped where it is not UTF-8, with path_base64 then), type, mode, owner, \
                size, mtime, link target, device number, links, xattrs (names and the SHA-256 \
                of each value), content hash and carried_over (schemas/ls.schema.json).

                Examples:
                  cairn ls documents                          the latest snapshot
                  cairn ls documents /home/me/Projects --at 2026-11-01
                                                              a folder, as it was then
                  cairn ls /home/me/notes.txt --all-versions  every version of a file
                  cairn ls documents '/home/me/*.odt' --json  for a script

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var source: SourceOptions
        @OptionGroup var snapshotOptions: SnapshotOptions

        @Argument(help: "The backup set (default: every set of this host whose sources hold PATH, or every set).")
        var set: String?

        @Argument(help: "Only this original path and the entries under it, or those a glob matches.")
        var path: String?

        @Flag(help: "List every version of each file held by any snapshot.")
        var allVersions = false

        @Flag(help: "Print the entries as JSON: path, type, mode, owner, size, mtime, link target, xattrs, content hash and whether the entry was carried over.")
        var json = false

        func validate() throws {
            let path = CommandSupport.setAndPaths(set, path.map { [$0] } ?? []).paths.first
            if let path, !path.hasPrefix("/"), !path.hasPrefix("*") {
                throw ValidationError("'\(path)' is not an absolute path: name files as they were backed up, such as /home/me/Documents")
            }
        }

        func run() async throws {
            let (set, paths) = CommandSupport.setAndPaths(set, path.map { [$0] } ?? [])
            let path = paths.first
            try await CommandSupport.forEachSet(set, json: json, options: options, source: source, command: "ls", holding: path.map { [$0] } ?? []) { config, set in
                await list(config, set: set, path: path)
            }
        }

        func list(_ config: Config, set: String, path: String?) async -> JobOutcome {
            await CommandSupport.job(config, set: set, command: "ls", source: source) { runner in await runner.read { repository in
                let repository = repository!
                let records = try await repository.snapshots()
                let selection = PathSelection(path.map { [FilePath(typed: PathExpansion.normalize($0))] } ?? [])
                let chosen = allVersions ? records.filter { $0.snapshot.set == set } : [try snapshotOptions.choice(in: config).pick(from: records, set: set, times: options.times(config))]
                // A path that matches nothing is an error, not an empty listing (a typo).
                let snapshot = allVersions ? "any snapshot of set '\(set)'" : "snapshot \(chosen[0].id.short) of set '\(set)'"
                try await selection.requireMatches(in: repository, roots: chosen.compactMap(\.snapshot.treeID), snapshot: snapshot)
                var seen: [FilePath: Set<String>] = [:]
                var listed: [ListingEntry] = []
                let times = options.times(config)
                for record in chosen {
                    if !allVersions, !json, record.snapshot.status != .complete {
                        Terminal.standardError("cairn: listing snapshot \(record.id.short) of \(times(record.snapshot.start))\(record.snapshot.statusNote)")
                    }
                    guard let root = record.snapshot.treeID else { continue }
                    try await SnapshotWalk.visit(repository, tree: root, at: .root, below: { selection.selection(of: $0).below }) { path, entry in
                        guard selection.selection(of: path).selected else { return }
                        let version = "\(entry.size)/\(entry.mtime)/\(entry.contentHash?.hex ?? "")"
                        if allVersions {
                            guard seen[path, default: []].insert(version).inserted else { return }
                        }
                        if json {
                            listed.append(ListingEntry(snapshot: record.id, path: path, entry: entry))
                            return
                        }
                        let line = Self.line(entry, path: path, time: times(entry.mtime))
                        let carried = entry.carried.map { "  (carried over: \($0))" } ?? ""
                        print(allVersions ? "\(line)  [\(record.id.short)\(record.snapshot.status == .partial ? ", partial" : "")]\(carried)" : line + carried)
                    }
                }
                if json {
                    CommandSupport.printJSON(try JSONOutput.text(listed))
                }
                return .success
            } }
        }

        /// An entry as `ls -l` shows its kind (`-` file, `d` folder, `l` link, `p` fifo, `s`
        /// socket, `c` and `b` devices): mode, size (a device's major,minor), time, path, and a
        /// link's target after `->`.
        static func line(_ entry: TreeEntry, path: FilePath, time: String) -> String {
            let letters: [TreeEntry.Kind: String] = [
                .file: "-", .directory: "d", .symlink: "l", .fifo: "p", .socket: "s", .characterDevice: "c", .blockDevice: "b",
            ]
            let size: String
            switch entry.kind {
            case .characterDevice, .blockDevice:
                size = "\(UInt64(entry.rdev) >> 8 & 0xfff | UInt64(entry.rdev) >> 32 & ~0xfff),\(UInt64(entry.rdev) & 0xff | UInt64(entry.rdev) >> 12 & ~0xff)"
            case .file, .symlink: size = String(entry.size)
            default: size = "0"
            }
            var line = "\(letters[entry.kind] ?? "?")\(String(format: "%04o", entry.mode & 0o7777)) \(size.leftPadded(12)) \(time) \(path)"
            if entry.kind == .symlink { line += " -> \(FilePath.display(entry.symlinkTarget))" }
            return line
        }
    }
}
