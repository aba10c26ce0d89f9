import CairnCore
import CairnTesting
import Foundation
import Testing

/// A tree 20,000 folders deep: deeper than any path can name, so it is made and compared
/// through descriptors. The restore keeps a bounded number of folders open (it ran out of
/// descriptors, one per level) and memory (a path per level would be 400 MB).
@Suite("A tree deeper than any path")
struct DeepTreeTests {
    static let depth = 20_000

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") && FileManager.default.isExecutableFile(atPath: "/usr/bin/time")))
    func aTwentyThousandLevelTreeRestoresWithFewDescriptorsAndLittleMemory() async throws {
        let workspace = try Workspace(algorithm: "none")
        let target = workspace.directory.subpath("restore")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        defer {
            DeepTree.remove(workspace.source)
            DeepTree.remove(target)
        }
        try DeepTree.make(in: workspace.source, depth: Self.depth, every: 5_000)

        // The scan reads by path: below PATH_MAX it reports what it cannot read, and does not
        // crash (the plan's walk of the scanned tree overflowed the stack).
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 3, "\(backup.all.prefix(2000))")
        #expect(backup.all.contains("File name too long"), "\(backup.all.prefix(2000))")

        // So the snapshot of the whole chain is made here, from the chain read by descriptor.
        let snapshot = try await Self.snapshotOfTheWholeChain(workspace)

        let restore = try workspace.cairn.run(
            ["restore", "files", "--snapshot", snapshot.short, "--to", target], in: workspace.directory.path, environment: workspace.environment,
            prefix: ["/usr/bin/prlimit", "--nofile=256", "/usr/bin/time", "-f", "maxrss=%M"])
        #expect(restore.status == 0, "\(restore.all.suffix(3000))")
        let differences = DeepTree.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
        let peak = restore.standardError.components(separatedBy: "maxrss=").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect((peak ?? .max) < 300_000, "peak memory \(peak ?? -1) kB")
    }

    /// A saved plan of a tree as deep as paths allow (about 2,000 folders) is carried out: the
    /// scan restricted to it is walked with a stack of its own, not by recursion.
    @Test func aSavedPlanOfATreeAsDeepAsPathsAllowIsApplied() throws {
        let workspace = try Workspace(algorithm: "none")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        defer { DeepTree.remove(workspace.source) }
        let depth = (Int(PATH_MAX) - 100 - workspace.source.utf8.count) / 2
        try DeepTree.make(in: workspace.source, depth: depth, every: 500)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let bottom = workspace.source + String(repeating: "/d", count: depth)
        try Data("new at the bottom".utf8).write(to: URL(fileURLWithPath: bottom + "/new"))
        let planFile = workspace.directory.subpath("plan.json")
        let plan = try workspace.run(["plan", "--out", planFile, "-v"])
        #expect(plan.status == 0 && plan.standardOutput.contains("/d/d/new (17 B)"), "\(plan.all.suffix(2000))")
        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 0, "\(apply.all.suffix(2000))")
        #expect(!apply.all.contains("vanished") && !apply.all.contains("not in the plan"), "\(apply.all.suffix(2000))")
        #expect(try workspace.run(["plan"]).standardOutput == "No changes.\n")
    }

    /// The latest snapshot with the source folder's tree replaced by the whole chain.
    static func snapshotOfTheWholeChain(_ workspace: Workspace) async throws -> ObjectID {
        let repository = try await Repository.open(storage: LocalFolderStorage(root: workspace.destination + "/files"), passphrase: nil)
        let record = try #require(try await repository.snapshots().last)
        var levels: [DeepTree.Level] = []
        DeepTree.walk(workspace.source) { _, level in levels.append(level) }
        #expect(levels.count == depth)
        // From the bottom up: the files of each level, and the folder below.
        var below: TreeEntry?
        for level in levels.reversed() {
            var entries: [TreeEntry] = []
            for file in level.files {
                var entry = TreeEntry(name: Array(file.name.utf8), kind: .file)
                entry.mode = UInt32(file.info.st_mode & 0o7777)
                entry.size = UInt64(file.content.count)
                entry.mtime = Timestamp(file.info.st_mtim)
                entry.content = [Extent(object: try await repository.store(.blob, file.content).id, offset: 0, length: file.content.count)]
                entries.append(entry)
            }
            if let below { entries.append(below) }
            var folder = TreeEntry(name: Array("d".utf8), kind: .directory)
            folder.mode = UInt32(level.info.st_mode & 0o7777)
            folder.mtime = Timestamp(level.info.st_mtim)
            folder.subtree = try await repository.store(Tree(entries: entries)).id
            below = folder
        }
        let chain = try await repository.store(Tree(entries: [try #require(below)])).id
        let root = try await replace(FilePath(workspace.source).components[...], in: try #require(record.snapshot.treeID), with: chain, repository)
        try await repository.flush()
        var snapshot = record.snapshot
        snapshot.tree = root.hex
        return try await repository.save(snapshot)
    }

    /// The tree `id` with the folder at `names` given the subtree `chain`.
    static func replace(_ names: ArraySlice<[UInt8]>, in id: ObjectID, with chain: ObjectID, _ repository: Repository) async throws -> ObjectID {
        var tree = try await repository.tree(id)
        let index = try #require(tree.entries.firstIndex { $0.name == names.first })
        let subtree = try #require(tree.entries[index].subtree)
        tree.entries[index].subtree = names.count == 1 ? chain : try await replace(names.dropFirst(), in: subtree, with: chain, repository)
        return try await repository.store(tree).id
    }
}
