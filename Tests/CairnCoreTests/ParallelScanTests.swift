import CairnTesting
import Foundation
import Testing

@testable import CairnCore

#if canImport(Glibc)
    import Glibc
#endif

/// The scan hands subfolders to other walkers while it goes on with the folder's other
/// entries; what it records must not depend on who scanned what, or in what order they ended.
@Suite("A scan by several walkers")
struct ParallelScanTests {
    /// Folders of every size; a folder of 3,000 files whose first entry is a subfolder (so
    /// more entries wait behind it than `Scanner.waitingBound`); a folder of 5,000 entries with
    /// a subfolder every 400 (so the waiting entries are compacted while subfolders are out);
    /// links, a fifo, and two chains of folders deeper than a path can name, in different
    /// folders, so several walkers report problems. Scanned against a previous snapshot after
    /// files were added, changed and removed, and again with entries left out by excludes and
    /// a filter (gone entries then come from two places, behind subfolders still being
    /// scanned): one walker and four, with previous trees arriving after random delays, give
    /// the same scan, and the problems in path order.
    @Test func severalWalkersScanWhatOneDoes() async throws {
        let directory = try TemporaryDirectory()
        let context = try localSetContext(directory)
        let source = directory.subpath("source")
        defer {
            DeepTree.remove(source + "/d05/deep")
            DeepTree.remove(source + "/d30/deep")
        }
        for folder in 0..<40 {
            let name = String(format: "d%02d", folder)
            for file in 0..<(3 + folder % 7 * 4) { try directory.write("source/\(name)/f\(file).txt", "\(name) file \(file)") }
            if folder % 3 == 0 {
                for file in 0..<5 { try directory.write("source/\(name)/sub/inner/g\(file).txt", "inner \(file)") }
            }
        }
        try directory.write("source/big/000-first/a.txt", "first")
        for file in 0..<200 { try directory.write("source/big/000-first/x\(file)", "x\(file)") }
        for file in 0..<3_000 { try directory.write("source/big/file\(file)", "big \(file)") }
        for entry in 0..<5_000 {
            if entry % 400 == 7 {
                for file in 0..<30 { try directory.write(String(format: "source/wide/e%05d/sub%d.txt", entry, file), "sub \(file)") }
            } else {
                try directory.write(String(format: "source/wide/e%05d", entry), "entry \(entry)")
            }
        }
        symlink("../d01/f0.txt", source + "/d02/link")
        symlink("nowhere", source + "/big/dangling")
        #expect(mkfifo(source + "/d03/fifo", 0o644) == 0)
        for folder in ["d05/deep", "d30/deep"] {
            try FileManager.default.createDirectory(atPath: source + "/" + folder, withIntermediateDirectories: true)
            try DeepTree.make(in: source + "/" + folder, depth: 2_100, every: 700)
        }

        var first = try await BackupJob.plan(context)
        let result = try await first.execute()
        let repository = try #require(first.repository)
        let previousRoot = try #require(result.snapshot.treeID)

        try FileManager.default.removeItem(atPath: source + "/d10")
        for file in 0..<5 { try FileManager.default.removeItem(atPath: source + "/d20/f\(file).txt") }
        for file in 0..<9 { try directory.write("source/d25/new\(file).txt", "new \(file)") }
        try directory.write("source/big/file1500", "changed, and longer")
        try FileManager.default.removeItem(atPath: source + "/big/000-first/x7")
        // Gone from the folder while its excluded neighbours are gone from the set.
        for name in ["file1", "file2998"] { try FileManager.default.removeItem(atPath: source + "/big/" + name) }
        try FileManager.default.removeItem(atPath: source + "/d33/f1.txt")
        try directory.write("source/d33/f1.txt/now-a-folder.txt", "a file became a folder")
        try FileManager.default.removeItem(atPath: source + "/d02/link")
        symlink("../d04/f0.txt", source + "/d02/link")
        try directory.write("source/zz-new/one.txt", "a new folder")
        try FileManager.default.removeItem(atPath: source + "/wide/e02000")

        let everything = try context.selection()
        let fewer = try Selection(
            sources: everything.sources,
            excludes: ["big/file0", "big/file2999", "wide/e01207", "wide/e04999", "d12"].map { everything.sources[0].appending(Array($0.utf8)) },
            filters: [
                Filter(
                    name: "no-sub", location: SourceLocation(file: "t", line: 1, column: 1), top: source, applyTo: [.directories], match: .regex,
                    patterns: ["^sub$"], mode: .exclude, others: .keep)
            ])
        for selection in [everything, fewer] {
            let one = try await scan(selection, walkers: 1, repository: repository, previousRoot: previousRoot, spillFolder: directory.path)
            #expect(one.handedOut == 0)
            #expect(one.lines.count > 8_400)
            #expect(one.lines.contains { $0.hasPrefix("gone ") && $0.hasSuffix("/d10 directory") }, "the removed folder")
            #expect(one.problems.count == 2 && one.problems.allSatisfy { $0.contains("File name too long") }, "\(one.problems.map { $0.suffix(80) })")
            #expect(one.problems.first?.contains("/d05/deep/") == true && one.problems.last?.contains("/d30/deep/") == true)
            for _ in 0..<3 {
                let several = try await scan(
                    selection, walkers: 4, repository: repository, previousRoot: previousRoot, spillFolder: directory.path, delays: true)
                #expect(several.handedOut > 10, "folders handed to other walkers: \(several.handedOut)")
                #expect(several.problems == one.problems)
                #expect(
                    several.lines == one.lines,
                    "first difference: \(zip(several.lines, one.lines).first { $0 != $1 }.map { "\($0) / \($1)" } ?? "in the count: \(several.lines.count) and \(one.lines.count)")"
                )
            }
        }
        // What the excludes and the filter leave out is gone, in name order with the rest.
        let narrowed = try await scan(fewer, walkers: 4, repository: repository, previousRoot: previousRoot, spillFolder: directory.path)
        let gone = narrowed.lines.filter { $0.hasPrefix("gone ") && $0.contains("/big/file") }
        #expect(gone.map { String($0.split(separator: "/").last!) } == ["file0 file", "file1 file", "file2998 file", "file2999 file"], "\(gone)")
        #expect(narrowed.lines.contains { $0.hasPrefix("gone ") && $0.hasSuffix("/d03/sub directory") })
        #expect(narrowed.lines.contains { $0.hasPrefix("gone ") && $0.hasSuffix("/wide/e01207 directory") })
        #expect(narrowed.lines.contains { $0.hasPrefix("gone ") && $0.hasSuffix("/source/d12 directory") })
    }

    /// A previous tree that cannot be read in a folder handed to another walker fails the
    /// scan (it does not hang), and every slot is free again.
    @Test func aWalkerThatFailsFailsTheScan() async throws {
        let directory = try TemporaryDirectory()
        let context = try localSetContext(directory)
        for folder in 0..<30 {
            for file in 0..<20 { try directory.write(String(format: "source/d%02d/f%d/g.txt", folder, file), "\(folder) \(file)") }
        }
        var first = try await BackupJob.plan(context)
        let result = try await first.execute()
        let repository = try #require(first.repository)
        let previousRoot = try #require(result.snapshot.treeID)
        var failing: Set<ObjectID> = []
        try await SnapshotWalk.visit(repository, tree: previousRoot, at: .root) { path, entry in
            if path.description.hasSuffix("/d17/f3") || path.description.hasSuffix("/d25"), let subtree = entry.subtree { failing.insert(subtree) }
        }
        #expect(failing.count == 2)
        for walkers in [1, 4] {
            var scanner = Scanner(
                selection: try context.selection(), followSymlinks: false, permissions: true, spillFolder: directory.path, walkers: walkers,
                previousTree: { [failing] id in
                    if failing.contains(id) { throw RepositoryError.missingObject("tree \(id.short)") }
                    return try await repository.treeCursor(id)
                })
            await #expect(throws: RepositoryError.self) { _ = try await scanner.scan(previousRoot: previousRoot) }
            #expect(scanner.slots.free == walkers - 1)
            #expect(scanner.openFolders.free == Scanner.openFolderLimit, "every folder held open is closed")
        }
    }

    /// Entries looked at by name in a folder held open (`fstatat`) are recorded as when
    /// looked at by their whole paths: files, links (followed or not), a dangling link, a
    /// fifo, a chain of folders deeper than the folders that may be held open, and names
    /// too long for a path beside it. Every folder held open is closed after the scan.
    @Test func foldersHeldOpenScanWhatPathsDo() async throws {
        let directory = try TemporaryDirectory()
        let context = try localSetContext(directory)
        let source = directory.subpath("source")
        // rm, which removes what FileManager cannot (a path past PATH_MAX).
        defer { DeepTree.remove(source) }
        for folder in 0..<12 {
            for file in 0..<(2 + folder) { try directory.write("source/d\(folder)/f\(file)", "\(folder) \(file)") }
        }
        var chain = "source/chain"
        for level in 0..<(Scanner.openFolderLimit + 36) {
            chain += "/l\(level)"
            if level % 9 == 0 { try directory.write(chain + "/file", "level \(level)") }
        }
        try directory.write(chain + "/bottom", "the bottom")
        // Folders of long names, and in the last a file whose path passes PATH_MAX (4096 bytes).
        var long = directory.subpath("source/long")
        var level = 0
        while long.utf8.count < 3_900 {
            long += "/" + String(repeating: Character(String(level % 10)), count: 100)
            level += 1
        }
        try FileManager.default.createDirectory(atPath: long, withIntermediateDirectories: true)
        let last = open(long, O_RDONLY | O_DIRECTORY)
        #expect(last >= 0)
        let tooLong = openat(last, String(repeating: "f", count: 4_100 - long.utf8.count), O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(tooLong >= 0)
        close(tooLong)
        close(last)
        symlink("../d1/f0", source + "/d2/link")
        symlink("../d3", source + "/d4/folder-link")
        symlink("nowhere", source + "/d5/dangling")
        #expect(mkfifo(source + "/d6/fifo", 0o644) == 0)
        var first = try await BackupJob.plan(context)
        let result = try await first.execute()
        let repository = try #require(first.repository)
        let previousRoot = try #require(result.snapshot.treeID)
        try directory.write("source/d7/f0", "changed since")
        try FileManager.default.removeItem(atPath: source + "/d8/f1")

        for follow in [false, true] {
            var lines: [[String]] = []
            var problems: [[String]] = []
            for (walkers, open) in [(1, 0), (1, Scanner.openFolderLimit), (4, 0), (4, Scanner.openFolderLimit), (4, 3)] {
                var scanner = Scanner(
                    selection: try context.selection(), followSymlinks: follow, permissions: true, spillFolder: directory.path, walkers: walkers,
                    openFolders: open, previousTree: { try await repository.treeCursor($0) })
                let root = try await scanner.scan(previousRoot: previousRoot)
                var dump: [String] = []
                try Self.dump(root, into: &dump)
                lines.append(dump)
                problems.append(scanner.problems.map { "\($0.path): \($0.message)" })
                #expect(scanner.openFolders.free == open, "every folder held open is closed (\(walkers) walkers, \(open) open)")
                #expect((scanner.openFolders.granted > 0) == (open > 0), "folders were held open: \(scanner.openFolders.granted)")
            }
            #expect(lines[0].count > 200)
            #expect(lines[0].contains { $0.contains("/l99/bottom ") })
            // Followed, a link to nothing is nothing (stat finds no entry).
            #expect(lines[0].contains { $0.hasPrefix("special dangling symlink") } == !follow)
            #expect(lines[0].contains { $0.hasPrefix("folder ") && $0.contains("/d4/folder-link ") } == follow)
            #expect(lines[0].contains { $0.hasPrefix("special fifo fifo") })
            #expect(problems[0].contains { $0.contains("File name too long") }, "\(problems[0])")
            for index in 1..<lines.count {
                #expect(problems[index] == problems[0])
                #expect(
                    lines[index] == lines[0],
                    "first difference: \(zip(lines[index], lines[0]).first { $0 != $1 }.map { "\($0) / \($1)" } ?? "in the count")")
            }
        }
    }

    func scan(
        _ selection: Selection, walkers: Int, repository: Repository, previousRoot: ObjectID, spillFolder: String, delays: Bool = false
    ) async throws -> (lines: [String], problems: [String], handedOut: Int) {
        var scanner = Scanner(
            selection: selection, followSymlinks: false, permissions: true, spillFolder: spillFolder, walkers: walkers,
            previousTree: { id in
                // Some folders' previous trees come late: walkers finish in other orders.
                if delays, id.bytes[0] % 3 == 0 { try await Task.sleep(for: .microseconds(Int(id.bytes[1]) * 8)) }
                return try await repository.treeCursor(id)
            })
        let root = try await scanner.scan(previousRoot: previousRoot)
        var lines: [String] = []
        try Self.dump(root, into: &lines)
        return (lines, scanner.problems.map { "\($0.path): \($0.message)" }, scanner.slots.granted)
    }

    /// A line for each folder (its change, whether its tree is the previous one, its totals and
    /// its changed links), each gone entry and each entry in it, in the scan's order. Without
    /// recursion: the deep chains are 2,000 folders deep.
    static func dump(_ root: ScannedDirectory, into lines: inout [String]) throws {
        enum Item {
            case folder(ScannedDirectory)
            case line(String)
        }
        var stack: [Item] = [.folder(root)]
        while let item = stack.popLast() {
            guard case .folder(let directory) = item else {
                if case .line(let line) = item { lines.append(line) }
                continue
            }
            let specials = directory.specialChanges.map { "\(String(decoding: $0.key, as: UTF8.self))=\($0.value)" }.sorted()
            lines.append(
                "folder \(directory.path) \(String(describing: directory.change)) \(directory.unchangedTree?.hex ?? "-") \(directory.totals) \(specials)")
            let contents = try directory.contents()
            for gone in contents.removed { lines.append("gone \(directory.path)/\(String(decoding: gone.name, as: UTF8.self)) \(gone.kind)") }
            var items: [Item] = []
            for child in contents.children {
                switch child {
                case .directory(let inner): items.append(.folder(inner))
                case .file(let file):
                    items.append(
                        .line(
                            "file \(file.path) \(file.change) \(file.entry.size) \(file.entry.inode) \(file.entry.user):\(file.entry.group) \(file.entry.mode) \(file.entry.mtime) \(file.entry.xattrs.count) \(file.previous?.size ?? 0)"
                        ))
                case .special(let entry):
                    items.append(.line("special \(String(decoding: entry.name, as: UTF8.self)) \(entry.kind) \(entry.symlinkTarget ?? [])"))
                case .carried(let entry): items.append(.line("carried \(String(decoding: entry.name, as: UTF8.self)) \(String(describing: entry.carried))"))
                }
            }
            stack += items.reversed()
        }
    }
}
