import CairnCore
import CairnTesting
import Foundation
import Testing

/// Trees with many files: the scan keeps finished folders in a spill file ($TMPDIR), not in
/// memory.
@Suite("Many files")
struct ScaleTests {
    /// `count` small files in folders of 100, each holding its own path.
    static func makeTree(_ root: String, count: Int) throws {
        for folder in 0..<(count / 100) {
            let path = "\(root)/d\(folder / 10)/f\(folder)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for file in 0..<100 { try Data("\(path)/\(file)\n".utf8).write(to: URL(fileURLWithPath: "\(path)/\(file).txt")) }
        }
    }

    /// A tmpfs of `size` mounted at `path` (made first); a mount that fails fails the test.
    static func smallDisk(_ path: String, size: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try #require(mount("tmpfs", path, "tmpfs", 0, "size=\(size)") == 0, "mount a \(size) tmpfs: \(String(cString: strerror(errno)))")
        return path
    }

    /// The counts of a plan printed with --json.
    static func summary(_ json: String) -> [String: Int] {
        let document = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let plans = document?["plans"] as? [[String: Any]] ?? document.map { [$0] } ?? []
        return (plans.first?["summary"] as? [String: Any])?.compactMapValues { $0 as? Int } ?? [:]
    }

    /// $TMPDIR is a 256 KiB file system, and the scan of 20,000 files needs more: the plan
    /// warns, the backup is whole, an incremental backup finds the changes, and the restore
    /// gives the tree back.
    @Test(.enabled(if: getuid() == 0)) func aScanLargerThanItsSpillFolderIsHeldInMemory() throws {
        var workspace = try Workspace()
        try Self.makeTree(workspace.source, count: 20_000)
        let small = try Self.smallDisk(workspace.directory.subpath("small-tmp"), size: "256k")
        defer { umount(small) }
        workspace.environment["TMPDIR"] = small

        let plan = try workspace.run(["plan", "--json"])
        #expect(plan.status == 0, "\(plan.all.suffix(2000))")
        #expect(plan.all.contains("cannot write the scan's spill file in \(small): No space left on device"), "\(plan.all.suffix(2000))")
        #expect(Self.summary(plan.standardOutput)["new_files"] == 20_000, "\(plan.standardOutput.suffix(1000))")
        #expect(try workspace.run(["backup", "-q"]).status == 0)

        try Data("changed\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/d19/f199/99.txt"))
        try FileManager.default.removeItem(atPath: workspace.source + "/d0/f0/0.txt")
        let again = try workspace.run(["plan", "--json"])
        #expect(again.status == 0, "\(again.all.suffix(2000))")
        let summary = Self.summary(again.standardOutput)
        #expect(summary["changed_files"] == 1 && summary["removed"] == 1 && summary["unchanged_files"] == 19_998, "\(summary)")
        #expect(try workspace.run(["backup", "-q"]).status == 0)

        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all.suffix(2000))")
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.prefix(20).joined(separator: "\n"))")
    }

    /// A plan of thousands of entries keeps its actions in a spill file and streams them: the
    /// JSON lists every entry once, each folder right before what is under it and what was
    /// under a removed folder right after it; the text folds within its budget and lists every
    /// entry with -v; the saved plan is the same document, readable by its owner alone, and
    /// apply carries it out.
    @Test func aPlanOfThousandsOfEntriesIsStreamedWholeAndApplied() throws {
        let workspace = try Workspace()
        try Self.makeTree(workspace.source, count: 3_000)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.removeItem(atPath: workspace.source + "/d1")
        try Self.makeTree(workspace.source + "/new", count: 2_000)

        let plan = try workspace.run(["plan", "--json"])
        #expect(plan.status == 0, "\(plan.all.suffix(2000))")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.standardOutput.utf8)) as? [String: Any])
        let actions = try #require(((document["plans"] as? [[String: Any]])?.first?["actions"]) as? [[String: Any]])
        let paths = actions.compactMap { $0["path"] as? String }
        #expect(Set(paths).count == paths.count, "each entry once")
        // 2,000 new files in 20 folders under 2 folders and new/; 1,000 files in 10 folders under d1 removed.
        let kinds = actions.map { $0["action"] as? String ?? "" }
        let newCount = kinds.filter { $0 == "new" }.count
        let removedCount = kinds.filter { $0 == "removed" }.count
        #expect(newCount == 2_023)
        #expect(removedCount == 1_011)
        var seen: Set<String> = []
        for path in paths {
            let parent = (path as NSString).deletingLastPathComponent
            if paths.contains(parent) { #expect(seen.contains(parent), "\(parent) comes before \(path)") }
            seen.insert(path)
        }
        let removedFolder = try #require(paths.firstIndex(of: workspace.source + "/d1"))
        #expect(paths[removedFolder + 1].hasPrefix(workspace.source + "/d1/"), "what was under it right after it")

        let text = try workspace.run(["plan"]).standardOutput.split(separator: "\n")
        #expect(text.count <= 45, "\(text.joined(separator: "\n"))")
        #expect(text.contains { $0.hasPrefix("- \(workspace.source)/d1/ (1011 removed)") || $0.hasPrefix("- \(workspace.source)/d1/") }, "\(text.joined(separator: "\n"))")
        let verbose = try workspace.run(["plan", "-v"]).standardOutput.split(separator: "\n")
        #expect(verbose.filter { $0.hasPrefix("+ ") || $0.hasPrefix("- ") || $0.hasPrefix("~ ") }.count == actions.count, "every entry a line")

        let saved = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", saved]).status == 0)
        var info = stat()
        #expect(stat(saved, &info) == 0 && info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: saved))) as? [String: Any])
        let savedPaths = (((file["plans"] as? [[String: Any]])?.first?["actions"]) as? [[String: Any]])?.compactMap { $0["path"] as? String }
        #expect(savedPaths == paths)
        let apply = try workspace.run(["apply", "--plan", saved])
        #expect(apply.status == 0, "\(apply.all.suffix(2000))")
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.prefix(20).joined(separator: "\n"))")
    }

    /// One folder of 12,500 files, a few of several chunks (more objects than a restore
    /// announces at once, so they are announced in batches as the walk goes): a whole restore
    /// and a restore of a few of its files come back byte for byte, and nothing else comes.
    @Test func aFolderOfThousandsOfFilesIsRestoredInBatches() throws {
        let workspace = try Workspace()
        let folder = workspace.source + "/big"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var random = SeededGenerator(state: 21)
        for number in 0..<12_500 {
            let size = number % 2_500 == 7 ? 3 << 20 : Int.random(in: 0...300, using: &random)
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            try Data(bytes).write(to: URL(fileURLWithPath: String(format: "%@/f%05d", folder, number)))
        }
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0, "\(backup.all.suffix(2000))")

        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all.suffix(2000))")
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.prefix(20).joined(separator: "\n"))")

        let some = workspace.directory.subpath("some")
        let chosen = ["f00007", "f09999", "f12499"].map { "\(folder)/\($0)" }
        let partial = try workspace.run(["restore", "files", "--to", some] + chosen)
        #expect(partial.status == 0, "\(partial.all.suffix(2000))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: some + folder).sorted() == ["f00007", "f09999", "f12499"])
        for path in chosen { #expect(FileManager.default.contentsEqual(atPath: path, andPath: some + path), "\(path)") }
    }

    /// A saved plan that does not fit its disk is an error that says so, and the plan saved
    /// there before is left as it was, with nothing half-written beside it.
    @Test(.enabled(if: getuid() == 0)) func aSavedPlanThatDoesNotFitLeavesTheOldOne() throws {
        let workspace = try Workspace()
        try Self.makeTree(workspace.source, count: 3_000)
        let small = try Self.smallDisk(workspace.directory.subpath("small-disk"), size: "64k")
        defer { umount(small) }
        let saved = small + "/plan.json"
        try Data("the plan saved before\n".utf8).write(to: URL(fileURLWithPath: saved))

        let plan = try workspace.run(["plan", "--out", saved])
        #expect(plan.status != 0, "\(plan.all.suffix(1000))")
        #expect(plan.standardError.contains("cannot write the plan to \(saved)"), "\(plan.all.suffix(1000))")
        #expect(plan.standardError.contains("No space left on device"), "\(plan.all.suffix(1000))")
        #expect(try String(contentsOfFile: saved, encoding: .utf8) == "the plan saved before\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: small) == ["plan.json"])
    }

    /// The snapshots of a set, as `cairn snapshots --json` gives them.
    static func snapshots(_ workspace: Workspace) throws -> [[String: Any]] {
        let output = try workspace.run(["snapshots", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]] ?? []
        return list.compactMap { $0["snapshot"] as? [String: Any] }
    }

    /// A folder whose entries are all as in the last snapshot keeps that snapshot's tree: a
    /// backup with nothing changed records the same tree and the same counts (files, bytes,
    /// folders, links and fifos, hard links among them) and stores nothing; after one change
    /// deep down, only the folders above it are new, and the restore gives the tree back.
    @Test func unchangedFoldersKeepTheirTreesAndCounts() throws {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 21)
        try generator.generate()
        try Self.makeTree(workspace.source + "/many", count: 3_000)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        var list = try Self.snapshots(workspace)
        #expect(list.count == 2)
        let first = list[0]["statistics"] as? [String: Int] ?? [:]
        let second = list[1]["statistics"] as? [String: Int] ?? [:]
        #expect(list[0]["tree"] as? String == list[1]["tree"] as? String, "the same tree")
        for key in ["files", "bytes", "directories", "otherEntries"] {
            #expect(first[key] != nil && first[key] == second[key], "\(key): \(first[key] ?? -1) then \(second[key] ?? -1)")
        }
        #expect(second["unchangedFiles"] == first["files"] && second["newObjects"] == 0, "\(second)")

        try Data("changed deep down\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/many/d2/f27/5.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        list = try Self.snapshots(workspace)
        let third = list[2]["statistics"] as? [String: Int] ?? [:]
        #expect(third["files"] == first["files"] && third["directories"] == first["directories"] && third["otherEntries"] == first["otherEntries"])
        #expect(third["changedFiles"] == 1 && third["unchangedFiles"] == (first["files"] ?? 0) - 1, "\(third)")
        // The file's tree, and the trees of the four folders above it up to the source's
        // parent, and the root's: nothing else is stored again.
        #expect((third["newObjects"] ?? 0) <= 10, "\(third)")
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.prefix(20).joined(separator: "\n"))")
    }

    /// A source added inside another, under a folder the other's filter leaves out: the
    /// enclosing folder's entries are as in the last snapshot, but it is no longer that tree
    /// (the new source is added under it). It was left out of every backup.
    @Test func aSourceAddedInsideAnUnchangedFolderIsStored() throws {
        let workspace = try Workspace()
        for folder in ["x/y", "other"] {
            try FileManager.default.createDirectory(atPath: workspace.source + "/" + folder, withIntermediateDirectories: true)
        }
        for file in ["a.txt", "x/y/z.txt", "x/skipped.txt", "other/b.txt"] {
            try Data(file.utf8).write(to: URL(fileURLWithPath: workspace.source + "/" + file))
        }
        func configure(_ sources: String) throws {
            try workspace.directory.write("cairn.yaml", """
                version: 1
                accounts: {local: {destination: ./destination}}
                encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
                backup-sets:
                  files:
                    account: local
                    sources: [\(sources)]
                    filters: [no-x]
                filters:
                  no-x: {top: ./source, apply-to: [directories], match: regex, patterns: ["^x$"], mode: exclude, others: keep}
                """)
        }
        try configure("./source")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try configure("./source, ./source/x/y")
        // The plan shows the new source's file (not only the change of the sources).
        let plan = try workspace.run(["plan", "--json"])
        #expect(plan.standardOutput.contains("\"path\" : \"\(workspace.source)/x/y/z.txt\""), "\(plan.all)")
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        let listing = try workspace.run(["ls", "files", workspace.source])
        #expect(listing.standardOutput.contains(workspace.source + "/x/y/z.txt"), "\(listing.all)")
        #expect(!listing.standardOutput.contains("skipped.txt"), "\(listing.all)")
    }
}
