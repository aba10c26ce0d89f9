import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Prune in process over random histories and policies: every kept snapshot's files still read
/// back exactly, in-file deltas included, and a second prune changes nothing.
@Suite("Prune over random histories")
struct PrunePropertyTests {
    func context(_ directory: TemporaryDirectory) throws -> SetContext {
        try localSetContext(
            directory, extra: "    in-file-delta: {mode: incremental, block-size: 4KiB, min-size: 64KiB, max-deltas: 3}", timezone: "UTC",
            environment: ["XDG_CACHE_HOME": directory.subpath("cache")])
    }

    /// Every file of a snapshot, read back from its extents.
    func contents(of record: SnapshotRecord, in repository: Repository) async throws -> [String: [UInt8]] {
        var files: [String: TreeEntry] = [:]
        try await SnapshotWalk.visit(repository, tree: try #require(record.snapshot.treeID), at: .root) { path, entry in
            if entry.kind == .file { files[String(decoding: path.name, as: UTF8.self)] = entry }
        }
        var result: [String: [UInt8]] = [:]
        for (name, entry) in files {
            var bytes: [UInt8] = []
            for extent in entry.content {
                let object = try await repository.load(.blob, extent.object)
                bytes += object[extent.offset..<extent.offset + extent.length]
            }
            result[name] = bytes
        }
        return result
    }

    func randomPolicy(_ generator: inout SeededGenerator) -> RetentionPolicy.Kind {
        let here = SourceLocation(file: "t", line: 1, column: 1)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: return .keepDays(Int.random(in: 1...10, using: &generator))
        case 1: return .keepJobs(Int.random(in: 1...6, using: &generator))
        default:
            let pool: [RetentionRule] = [
                RetentionRule(frequency: .day, copies: Int.random(in: 1...5, using: &generator), location: here),
                RetentionRule(frequency: .week(.monday), copies: Int.random(in: 1...3, using: &generator), location: here),
                RetentionRule(frequency: .month(.number(1)), copies: 2, location: here),
            ]
            let rules = pool.filter { _ in Bool.random(using: &generator) }
            return .advanced(removeOverlap: Bool.random(using: &generator), rules: rules.isEmpty ? [pool[0]] : rules)
        }
    }

    @Test(arguments: 1...6 as ClosedRange<UInt64>)
    func keptSnapshotsReadBackExactlyAfterPrune(seed: UInt64) async throws {
        var generator = SeededGenerator(state: seed)
        let directory = try TemporaryDirectory()
        let context = try context(directory)
        var big = (0..<(200 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var time = Date(timeIntervalSince1970: 1_790_000_000)
        var expected: [Timestamp: [String: [UInt8]]] = [:]
        for step in 0..<Int.random(in: 6...12, using: &generator) {
            // A large file edited in place (stored as deltas), small files that come and go.
            let at = Int.random(in: 0..<(big.count - 5000), using: &generator)
            big.replaceSubrange(at..<at + 3000, with: (0..<Int.random(in: 1000...5000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            var files = ["big.bin": big]
            for index in 0..<3 where Bool.random(using: &generator) { files["small-\(index).txt"] = Array("step \(step) file \(index)\n".utf8) }
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.subpath("source")) {
                try FileManager.default.removeItem(atPath: directory.subpath("source/\(name)"))
            }
            for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: directory.subpath("source/\(name)"))) }
            time += Double.random(in: 3600...(3 * 86_400), using: &generator)
            var job = try await BackupJob.plan(context, now: time)
            let result = try await job.execute()
            expected[result.snapshot.start] = files
        }

        let storage = LocalFolderStorage(root: context.repositoryPath)
        let repository = try await Repository.open(storage: storage, passphrase: nil)
        let evaluation = RetentionEvaluation(policy: randomPolicy(&generator), timeZone: TimeZone(identifier: "UTC")!)
        let now = time + Double.random(in: 0...(10 * 86_400), using: &generator)
        let pruned = try await repository.prune(evaluation, now: now, dryRun: false)
        #expect(pruned.verdicts.contains { $0.verdict.keep })

        let reopened = try await Repository.open(storage: storage, passphrase: nil)
        let kept = try await reopened.snapshots()
        #expect(kept.map(\.id) == pruned.verdicts.filter(\.verdict.keep).map(\.record.id))
        for record in kept {
            let read = try await contents(of: record, in: reopened)
            #expect(read == expected[record.snapshot.start], "seed \(seed): snapshot \(record.id.short) reads back exactly")
        }
        let report = try await Verifier(repository: reopened).run(readData: 1)
        #expect(report.damages.isEmpty, "\(report.damages.map(\.message))")

        let twice = try await reopened.prune(evaluation, now: now, dryRun: false)
        #expect(twice.expired.isEmpty && twice.packsDeleted == 0 && twice.packsRepacked == 0, "pruning twice changes nothing")
    }

    /// A prune opens the repository before it takes its lease: a backup that ends in between
    /// (its snapshot, packs and index file written) is taken into account, not reported as a
    /// snapshot with objects missing, and everything kept reads back.
    @Test func aBackupBetweenAPrunesOpeningAndItsLeaseIsKnownToIt() async throws {
        let directory = try TemporaryDirectory()
        let context = try context(directory)
        var time = Date(timeIntervalSince1970: 1_790_000_000)
        var expected: [Timestamp: [String: [UInt8]]] = [:]
        func backup(_ files: [String: String]) async throws {
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.subpath("source")) {
                try FileManager.default.removeItem(atPath: directory.subpath("source/\(name)"))
            }
            for (name, text) in files { try directory.write("source/\(name)", text) }
            time += 86_400
            var job = try await BackupJob.plan(context, now: time)
            expected[try await job.execute().snapshot.start] = files.mapValues { Array($0.utf8) }
        }
        try await backup(["a.txt": "first", "b.txt": String(repeating: "kept in both ", count: 500)])
        try await backup(["a.txt": "second", "b.txt": String(repeating: "kept in both ", count: 500)])
        let storage = LocalFolderStorage(root: context.repositoryPath)
        let pruning = try await Repository.open(storage: storage, passphrase: nil)
        // Opened: now a backup runs to its end before the prune takes its lease.
        try await backup(["a.txt": "third, after the prune opened", "c.txt": String(repeating: "new ", count: 700)])
        let evaluation = RetentionEvaluation(policy: .keepJobs(2), timeZone: TimeZone(identifier: "UTC")!)
        let pruned = try await pruning.withLease(.exclusive, command: "test prune") {
            try await pruning.prune(evaluation, now: time, dryRun: false)
        }
        #expect(pruned.expired.count == 1)
        // The same instance, whose index files are now those its prune wrote, prunes again
        // after another backup: it loads that backup's index file too.
        try await backup(["a.txt": "fourth", "d.txt": String(repeating: "newer ", count: 700)])
        let again = try await pruning.withLease(.exclusive, command: "test prune") {
            try await pruning.prune(evaluation, now: time, dryRun: false)
        }
        #expect(again.expired.count == 1)
        let reopened = try await Repository.open(storage: storage, passphrase: nil)
        let kept = try await reopened.snapshots()
        #expect(kept.count == 2)
        for record in kept {
            #expect(try await contents(of: record, in: reopened) == expected[record.snapshot.start], "snapshot \(record.id.short) reads back")
        }
        let report = try await Verifier(repository: reopened).run(readData: 1)
        #expect(report.damages.isEmpty, "\(report.damages.map(\.message))")
    }
}
