import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Backups of files that change or vanish between the plan and the read.
@Suite("Files that change while they are backed up")
struct BackupJobTests {
    func context(_ directory: TemporaryDirectory) throws -> SetContext {
        try localSetContext(directory)
    }

    @Test func aFileThatVanishesOrChangesIsReportedAndTheSnapshotStaysConsistent() async throws {
        let directory = try TemporaryDirectory()
        let context = try context(directory)
        try directory.write("source/stays.txt", "stays")
        try directory.write("source/vanishes.txt", "vanishes")
        try directory.write("source/grows.txt", "short")

        var job = try await BackupJob.plan(context)
        #expect(job.plan.summary.newFiles == 3)
        try FileManager.default.removeItem(atPath: directory.subpath("source/vanishes.txt"))
        try directory.write("source/grows.txt", "much longer than before")
        let result = try await job.execute()

        #expect(result.problems.map(\.message).sorted() == [
            "changed while it was read; stored as read (it had no earlier version), and read again next time",
            "vanished before it could be read",
        ])
        let repository = try #require(job.repository)
        var stored: [String: UInt64] = [:]
        try await SnapshotWalk.visit(repository, tree: try #require(result.snapshot.treeID), at: .root) { path, entry in
            if entry.kind == .file { stored[String(decoding: path.name, as: UTF8.self)] = entry.size }
        }
        #expect(stored == ["stays.txt": 5, "grows.txt": 23], "the entry's size is what was read")

        // The next plan reads the changed file again.
        let next = try await BackupJob.plan(context)
        #expect(try next.plan.actions.array().map(\.path).contains { $0.hasSuffix("/grows.txt") })
        #expect(result.snapshot.status == .incomplete)
    }

    /// Trees are stored as folders complete (children before their parent), but problems are
    /// reported in tree order: a folder's own files before and after its subfolders' where
    /// they sort.
    @Test func problemsAreReportedInTreeOrder() async throws {
        let directory = try TemporaryDirectory()
        let context = try context(directory)
        let names = ["a.txt", "b/c.txt", "b/d/e.txt", "b/f.txt", "g/h.txt", "i.txt"]
        for name in names { try directory.write("source/\(name)", name) }
        // A large file early in the tree, so later folders complete before the first.
        try directory.write("source/0-large.bin", String(repeating: "x", count: 3 << 20))
        var job = try await BackupJob.plan(context)
        for name in names { try FileManager.default.removeItem(atPath: directory.subpath("source/\(name)")) }
        let result = try await job.execute()
        let reported = result.problems.map { String($0.path.description.split(separator: "/source/").last ?? "") }
        #expect(reported == names, "\(reported)")
    }

    @Test func aFileBackedUpBeforeThatVanishesOrChangesWhileReadKeepsItsPreviousVersion() async throws {
        let directory = try TemporaryDirectory()
        let context = try context(directory)
        try directory.write("source/vanishes.txt", "vanishes")
        try directory.write("source/grows.txt", "short")
        var first = try await BackupJob.plan(context)
        _ = try await first.execute()
        try directory.write("source/vanishes.txt", "vanishes, version 2")
        try directory.write("source/grows.txt", "short, version 2")

        var job = try await BackupJob.plan(context)
        #expect(job.plan.summary.changedFiles == 2)
        try FileManager.default.removeItem(atPath: directory.subpath("source/vanishes.txt"))
        try directory.write("source/grows.txt", "much longer than before, version 3")
        let result = try await job.execute()

        #expect(result.problems.map(\.message).sorted() == [
            "changed while it was read; its previous version is kept, and it is read again next time",
            "vanished before it could be read; its previous version is kept",
        ])
        #expect(result.snapshot.status == .incomplete)
        let repository = try #require(job.repository)
        var stored: [String: (UInt64, TreeEntry.CarriedOver?)] = [:]
        try await SnapshotWalk.visit(repository, tree: try #require(result.snapshot.treeID), at: .root) { path, entry in
            if entry.kind == .file { stored[String(decoding: path.name, as: UTF8.self)] = (entry.size, entry.carried) }
        }
        #expect(stored["vanishes.txt"]?.0 == 8 && stored["vanishes.txt"]?.1 == .readFailed, "the first version, marked")
        #expect(stored["grows.txt"]?.0 == 5 && stored["grows.txt"]?.1 == .readFailed)
        #expect(result.snapshot.statistics.files == 2 && result.snapshot.statistics.carriedOver == 2)
    }
}
