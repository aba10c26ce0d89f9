import CairnCore
import CairnTesting
import Foundation
import Testing

/// Retention through the built binary: expirations in the plan, prune after each backup and on
/// its own, kept versions (deltas included) restoring after it, and interrupted prunes.
@Suite("Retention and prune through the built binary")
struct PruneTests {
    static func workspace(policy: String = "{keep-jobs: 2}") throws -> Workspace {
        try Workspace(extra: """
                retention: keep
                in-file-delta: {mode: incremental, block-size: 4KiB, min-size: 1MB}
            retention:
              keep: \(policy)
            """)
    }

    /// Backs up `versions` versions of a delta-stored file and a small file; returns their bytes.
    static func backUp(_ workspace: Workspace, versions: Int, seed: UInt64, environment: [String: String] = [:]) throws -> [[UInt8]] {
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SeededGenerator(state: seed)
        var data = InFileDeltaTests.randomBytes(2 << 20, &generator)
        var result: [[UInt8]] = []
        for version in 0..<versions {
            if version > 0 { InFileDeltaTests.edit(&data, step: version, &generator) }
            try InFileDeltaTests.write(data, to: workspace.source + "/db.bin")
            try Data("version \(version)\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/note.txt"))
            result.append(data)
            let backup = try workspace.run(["backup"])
            #expect(backup.status == 0, "\(backup.all)")
        }
        return result
    }

    static func restoreAll(_ workspace: Workspace, expecting versions: [[UInt8]]) throws {
        let ids = try InFileDeltaTests.snapshotIDs(workspace)
        #expect(ids.count == versions.count)
        for (index, id) in ids.enumerated() {
            let target = workspace.directory.subpath("restore-\(id)")
            let restore = try workspace.run(["restore", "files", "--snapshot", id, "--to", target])
            #expect(restore.status == 0, "\(restore.all)")
            #expect(FileManager.default.contents(atPath: workspace.restored(under: target) + "/db.bin").map { Array($0) } == versions[index])
            try? FileManager.default.removeItem(atPath: target)
        }
    }

    static func repositorySize(_ workspace: Workspace) throws -> Int {
        try FileManager.default.subpathsOfDirectory(atPath: workspace.destination).reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: workspace.destination + "/" + $1)[.size] as? Int) ?? 0)
        }
    }

    @Test func backupsPruneAndKeptVersionsStillRestore() throws {
        let workspace = try Self.workspace()
        let versions = try Self.backUp(workspace, versions: 6, seed: 1)
        // Keep-jobs 2: the last two versions stay; the deltas they are built on do not need
        // the expired snapshots, only the objects their extents name.
        try Self.restoreAll(workspace, expecting: Array(versions.suffix(2)))
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        #expect(try Self.repositorySize(workspace) < 3 << 20, "expired data is deleted")

        let plan = try workspace.run(["plan"])
        #expect(plan.standardOutput.contains("expired: not one of the last 2 jobs"), "the plan counts this run's snapshot: \(plan.standardOutput)")
        let json = try workspace.run(["plan", "--json"])
        #expect(try Workspace.validate(json.standardOutput, against: "schemas/plan.schema.json").hasPrefix("valid"), "\(json.standardOutput)")
        #expect(json.standardOutput.contains("\"expirations\""))

        // Pruning twice changes nothing but the temporary files a killed run would leave
        // (a pack is written under a temporary name while it fills).
        let pack = try #require(FileManager.default.subpathsOfDirectory(atPath: workspace.destination).first { $0.contains("data/") })
        let leftover = workspace.destination + "/" + pack.split(separator: "/").dropLast().joined(separator: "/") + "/.tmp-killed"
        try Data(repeating: 1, count: 4096).write(to: URL(fileURLWithPath: leftover))
        let again = try workspace.run(["prune", "files"])
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(again.status == 0)
        #expect(again.standardOutput.contains("0 of 2 snapshots expired; 0 packs deleted, 0 repacked"), "\(again.standardOutput)")
    }

    @Test func aDryRunChangesNothingAndJSONSaysWhy() throws {
        let workspace = try Self.workspace(policy: "{keep-jobs: 5}")
        let versions = try Self.backUp(workspace, versions: 3, seed: 2)
        let shorter = workspace
        _ = try shorter.directory.write("cairn.yaml", try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "keep-jobs: 5", with: "keep-jobs: 1"))
        let before = try Self.repositorySize(workspace)
        let dry = try shorter.run(["prune", "files", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.all)")
        #expect(try Workspace.validate(dry.standardOutput, against: "schemas/prune.schema.json").hasPrefix("valid"), "\(dry.standardOutput)")
        let document = try JSONSerialization.jsonObject(with: Data(dry.standardOutput.utf8)) as? [String: Any]
        let snapshots = document?["snapshots"] as? [[String: Any]] ?? []
        #expect(snapshots.map { $0["keep"] as? Bool } == [false, false, true])
        #expect((snapshots.first?["reasons"] as? [String]) == ["not one of the last 1 job"])
        #expect(try Self.repositorySize(workspace) == before)
        try Self.restoreAll(workspace, expecting: versions)

        let real = try shorter.run(["prune", "files"])
        #expect(real.status == 0)
        try Self.restoreAll(workspace, expecting: [versions[2]])
    }

    /// A prune killed at each of its steps leaves every kept snapshot restorable; the next
    /// prune finishes the work.
    @Test(arguments: ["prune-snapshots-deleted", "prune-pack-written", "prune-index-written", "prune-indexes-deleted", "prune-pack-deleted"])
    func anInterruptedPruneLosesNoKeptData(point: String) throws {
        let workspace = try Self.workspace(policy: "{keep-jobs: 10}")
        let versions = try Self.backUp(workspace, versions: 5, seed: 3)
        var shorter = workspace
        _ = try shorter.directory.write("cairn.yaml", try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "keep-jobs: 10", with: "keep-jobs: 2"))
        shorter.environment["CAIRN_FAULT_INJECTION"] = "\(point):1"
        let killed = try shorter.run(["prune", "files"])
        #expect(killed.status != 0, "\(point) was reached: \(killed.all)")
        shorter.environment["CAIRN_FAULT_INJECTION"] = nil
        // The kill left the lock behind; a stale lock of a dead process on this host is removed.
        let kept = try InFileDeltaTests.snapshotIDs(workspace)
        let expected = Array(versions.suffix(kept.count))
        try Self.restoreAll(workspace, expecting: expected)
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "after a kill at \(point): \(verify.all)")
        let finish = try shorter.run(["prune", "files"])
        #expect(finish.status == 0, "\(finish.all)")
        try Self.restoreAll(workspace, expecting: Array(versions.suffix(2)))
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func retentionPreviewShowsTheGuidesExample() throws {
        let workspace = try Workspace(extra: """
            retention:
              tape-rotation:
                remove-overlap: true
                keep:
                  - {every: day, copies: 7}
                  - {every: week, day: saturday, copies: 4}
                  - {every: month, day: 1, copies: 3}
                  - {every: quarter, day: 1, copies: 4}
                  - {every: year, date: "01-01", copies: 7}
            """)
        let preview = try workspace.run(["retention", "preview", "tape-rotation", "--from", "1999-01-01", "--to", "2006-01-17"])
        #expect(preview.status == 0, "\(preview.all)")
        #expect(preview.standardOutput.contains("Keeps 11 of 2573 jobs."), "\(preview.standardOutput)")
        #expect(preview.standardOutput.contains("2006-01-07 00:00:00 +00:00  kept: weekly 2 of 4 (2006-01-07)"))
        let verbose = try workspace.run(["retention", "preview", "tape-rotation", "--from", "1999-01-01", "--to", "2006-01-17", "-v"])
        #expect(verbose.standardOutput.contains("2006-01-13 00:00:00 +00:00  expired: daily, overlapped by weekly 2006-01-14"))
        let json = try workspace.run(["retention", "preview", "tape-rotation", "--from", "1999-01-01", "--to", "2006-01-17", "--json"])
        #expect(try Workspace.validate(json.standardOutput, against: "schemas/retention-preview.schema.json").hasPrefix("valid"))
        let document = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any]
        #expect(document?["kept"] as? Int == 11 && document?["jobs"] as? Int == 2573)
        #expect(try workspace.run(["retention", "preview", "nope", "--from", "1999-01-01", "--to", "2006-01-17"]).status == 1)
        #expect(try workspace.run(["retention", "preview", "tape-rotation", "--from", "2006-01-17", "--to", "1999-01-01"]).status == 64)
    }

    @Test func retentionPreviewShowsPartialSnapshotsAndWhyEachIsKeptOrExpired() throws {
        let workspace = try Workspace(extra: "retention: {three: {keep-jobs: 3}}\n")
        // Jobs 1..10 at midnight, every third one interrupted: 3, 6 and 9 are partial.
        let arguments = ["retention", "preview", "three", "--from", "2026-01-01", "--to", "2026-01-10T12:00", "--partial-every", "3", "-v"]
        let preview = try workspace.run(arguments)
        #expect(preview.status == 0, "\(preview.all)")
        let lines = preview.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains("2026-01-10 00:00:00 +00:00  kept: job 1 of the last 3; latest snapshot"), "\(preview.standardOutput)")
        #expect(lines.contains("2026-01-07 00:00:00 +00:00  kept: job 3 of the last 3"), "three complete jobs counted, the partial ones between them extra")
        #expect(lines.contains("2026-01-09 00:00:00 +00:00  (partial) expired: partial, and a newer complete snapshot exists"))
        #expect(lines.contains("2026-01-05 00:00:00 +00:00  expired: not one of the last 3 jobs"))
        let json = try workspace.run(Array(arguments.dropLast()) + ["--json"])
        #expect(try Workspace.validate(json.standardOutput, against: "schemas/retention-preview.schema.json").hasPrefix("valid"))
        #expect(json.standardOutput.contains("\"partial\" : true"))
        #expect(try workspace.run(["retention", "preview", "three", "--from", "2026-01-01", "--to", "2026-01-10", "--partial-every", "0"]).status == 64)
    }
}
