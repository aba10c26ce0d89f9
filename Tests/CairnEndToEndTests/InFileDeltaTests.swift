import CairnCore
import CairnTesting
import Foundation
import Testing

/// In-file delta through the built binary: chains of versions restored byte-exact, the rules
/// that force a full upload, and what damage harms in each mode.
@Suite("In-file delta through the built binary")
struct InFileDeltaTests {
    static func workspace(mode: String, extra: String = "") throws -> Workspace {
        try Workspace(extra: """
                in-file-delta:
                  mode: \(mode)
                  block-size: 4KiB
                  min-size: 1MB
            \(extra)
            """)
    }

    static func randomBytes(_ count: Int, _ generator: inout SeededGenerator) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        for start in stride(from: 0, to: count, by: 8) {
            var word = generator.next()
            for index in start..<min(start + 8, count) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
        }
        return bytes
    }

    /// One edit of the kinds a database or mailbox file sees, chosen by `step`.
    static func edit(_ data: inout [UInt8], step: Int, _ generator: inout SeededGenerator) {
        let position = Int(generator.next() % UInt64(max(1, data.count - 40_000)))
        let length = 1 + Int(generator.next() % 30_000)
        switch step % 5 {
        case 0: data.insert(contentsOf: randomBytes(length, &generator), at: position)
        case 1: data.removeSubrange(position..<min(data.count, position + length))
        case 2: data += randomBytes(length, &generator)
        case 3: data.removeLast(min(length, data.count / 4))
        default:
            for _ in 0..<8 {
                let at = Int(generator.next() % UInt64(data.count - 600))
                data.replaceSubrange(at..<at + 500, with: randomBytes(500, &generator))
            }
        }
    }

    static func write(_ data: [UInt8], to path: String) throws {
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    static func snapshotIDs(_ workspace: Workspace) throws -> [String] {
        let list = try workspace.run(["snapshots", "files"])
        return list.standardOutput.split(separator: "\n").dropFirst().map { String($0.prefix(8)) }
    }

    @Test(arguments: ["incremental", "differential"])
    func twentyVersionsOfEditsAllRestoreByteExact(mode: String) throws {
        let workspace = try Self.workspace(mode: mode, extra: "      max-deltas: off\n      max-delta-ratio: off\n")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SeededGenerator(state: mode == "incremental" ? 11 : 12)
        var data = Self.randomBytes(3 << 20, &generator)
        let path = workspace.source + "/mailbox.db"
        var versions: [[UInt8]] = []
        for step in 0..<21 {
            if step == 10 {
                // A run that finds the file unchanged keeps its delta state for the next one.
                let again = try workspace.run(["backup"])
                #expect(!again.standardOutput.contains("in-file delta:"), "\(again.standardOutput)")
            }
            if step > 0 { Self.edit(&data, step: step - 1, &generator) }
            try Self.write(data, to: path)
            versions.append(data)
            let backup = try workspace.run(["backup"])
            #expect(backup.status == 0, "\(backup.all)")
            if step == 0 {
                #expect(backup.standardOutput.contains("in-file delta: \(path): full: new file"), "\(backup.standardOutput)")
            } else {
                #expect(backup.standardOutput.contains("delta on "), "version \(step): \(backup.standardOutput)")
                #expect(backup.standardOutput.contains("in-file delta: \(path): delta on "), "version \(step): \(backup.standardOutput)")
            }
        }
        var ids = try Self.snapshotIDs(workspace)
        #expect(ids.count == 22)
        ids.remove(at: 10)
        for (index, id) in ids.enumerated() {
            let target = workspace.directory.subpath("restore-\(index)")
            let restore = try workspace.run(["restore", "files", "--snapshot", id, "--to", target])
            #expect(restore.status == 0, "\(restore.all)")
            let restored = FileManager.default.contents(atPath: workspace.restored(under: target) + "/mailbox.db").map { Array($0) }
            #expect(restored == versions[index], "version \(index) of \(mode) restores byte-exact")
            try? FileManager.default.removeItem(atPath: target)
        }
        let stored = try FileManager.default.subpathsOfDirectory(atPath: workspace.destination).reduce(0) {
            $0 + ((try? FileManager.default.attributesOfItem(atPath: workspace.destination + "/" + $1)[.size] as? Int) ?? 0)
        }
        if mode == "incremental" {
            #expect(stored < 6 << 20, "21 versions of a 3 MB file with small edits take \(stored) bytes")
        }
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        #expect(verify.standardOutput.contains("signatures checked"))
    }

    @Test func rulesDecideWhenTheWholeFileIsUploaded() throws {
        let workspace = try Self.workspace(mode: "incremental", extra: "      max-deltas: 2\n      max-delta-ratio: 10%\n")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SeededGenerator(state: 5)
        var data = Self.randomBytes(2 << 20, &generator)
        let path = workspace.source + "/dump.sql"
        var versions: [[UInt8]] = []
        func backup(_ arguments: [String] = [], expect line: String) throws {
            try Self.write(data, to: path)
            versions.append(data)
            let plan = try workspace.run(["plan"] + arguments)
            let run = try workspace.run(["backup"] + arguments)
            #expect(run.status == 0, "\(run.all)")
            #expect(run.standardOutput.contains("in-file delta: \(path): \(line)"), "\(plan.standardOutput)\n\(run.standardOutput)")
            if line.hasPrefix("delta on") {
                #expect(plan.standardOutput.contains("; delta on "), "\(plan.standardOutput)")
                #expect(plan.standardOutput.contains("full if over 10%)"), "\(plan.standardOutput)")
            } else if !line.hasPrefix("full: delta") {
                #expect(plan.standardOutput.contains("; \(line))"), "the plan shows the decision: \(plan.standardOutput)")
            }
        }
        try backup(expect: "full: new file")
        Self.edit(&data, step: 4, &generator)
        try backup(expect: "delta on ")
        Self.edit(&data, step: 4, &generator)
        try backup(expect: "delta on ")
        Self.edit(&data, step: 4, &generator)
        try backup(expect: "full: 3 deltas > max 2")
        // A third of the file rewritten: over the 10% ratio, decided while applying.
        data.replaceSubrange(100_000..<800_000, with: Self.randomBytes(700_000, &generator))
        try backup(expect: "full: delta 34% > 10%")
        Self.edit(&data, step: 4, &generator)
        try backup(["--delta-mode", "full"], expect: "full: --delta-mode full")
        Self.edit(&data, step: 0, &generator)
        try backup(["--delta-mode", "differential"], expect: "delta on ")
        Self.edit(&data, step: 4, &generator)
        try Self.write(data, to: path)
        let json = try workspace.run(["plan", "--json"])
        #expect(try Workspace.validate(json.standardOutput, against: "schemas/plan.schema.json").hasPrefix("valid"))
        // The differential delta kept no signature of its own: an incremental delta needs one.
        #expect(json.standardOutput.contains(#""reason" : "full: the last version, a differential delta, has no signature""#), "\(json.standardOutput)")

        let ids = try Self.snapshotIDs(workspace)
        for (index, id) in ids.enumerated() {
            let target = workspace.directory.subpath("restore-\(index)")
            #expect(try workspace.run(["restore", "files", "--snapshot", id, "--to", target]).status == 0)
            #expect(FileManager.default.contents(atPath: workspace.restored(under: target) + "/dump.sql").map { Array($0) } == versions[index])
        }
    }

    @Test func aFullUploadIsForcedOnTheDaysOfFullOn() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let weekday = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"][calendar.component(.weekday, from: Date()) - 1]
        let day = calendar.component(.day, from: Date())
        for (setting, reason) in [("[\(weekday)]", "full: forced on \(weekday)"), ("[{day: \(day)}]", "full: forced on day \(day) of the month")] {
            let workspace = try Self.workspace(mode: "differential", extra: "      full-on: \(setting)\n")
            try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
            var generator = SeededGenerator(state: 9)
            var data = Self.randomBytes(1 << 20 + 5000, &generator)
            try Self.write(data, to: workspace.source + "/big")
            #expect(try workspace.run(["backup", "-q"]).status == 0)
            Self.edit(&data, step: 4, &generator)
            try Self.write(data, to: workspace.source + "/big")
            let plan = try workspace.run(["plan"])
            #expect(plan.standardOutput.contains("(1.1 MB; \(reason))"), "\(plan.standardOutput)")
            let backup = try workspace.run(["backup"])
            #expect(backup.standardOutput.contains(": \(reason)"), "\(backup.standardOutput)")
        }
    }

    /// The packs a backup added.
    static func packs(_ workspace: Workspace) throws -> Set<String> {
        let data = workspace.destination + "/files/data"
        return Set(try FileManager.default.subpathsOfDirectory(atPath: data).filter { $0.count > 3 }.map { data + "/" + $0 })
    }

    static func flipByte(in path: String, at offset: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: offset)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte ^ 0x40]))
        try handle.close()
    }

    /// Damage to the new data of the second version: in incremental mode the third version
    /// reuses it; in differential mode the third version depends only on the full upload.
    @Test(arguments: ["incremental", "differential"])
    func damageHarmsExactlyTheVersionsThatUseIt(mode: String) throws {
        let workspace = try Self.workspace(mode: mode)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SeededGenerator(state: 3)
        var data = Self.randomBytes(2 << 20, &generator)
        let path = workspace.source + "/mail.pst"
        try Self.write(data, to: path)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let afterFull = try Self.packs(workspace)
        data.replaceSubrange(200_000..<240_000, with: Self.randomBytes(40_000, &generator))
        try Self.write(data, to: path)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let second = try Self.packs(workspace).subtracting(afterFull)
        data.replaceSubrange(1_500_000..<1_510_000, with: Self.randomBytes(10_000, &generator))
        try Self.write(data, to: path)
        let third = try workspace.run(["backup"])
        #expect(third.standardOutput.contains("delta on "), "\(third.all)")
        #expect(second.count == 1)
        // The second backup's pack starts with its new data.
        try Self.flipByte(in: try #require(second.first), at: 200)

        let ids = try Self.snapshotIDs(workspace)
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 1)
        let affected = Set(verify.standardOutput.split(separator: "\n").filter { $0.contains("affects \(path) in snapshot") }.map { String($0.suffix(8)) })
        let expected: Set<String> = mode == "incremental" ? [ids[1], ids[2]] : [ids[1]]
        #expect(affected == expected, "\(mode): \(verify.standardOutput)")

        for (index, id) in ids.enumerated() {
            let target = workspace.directory.subpath("restore-\(index)")
            let restore = try workspace.run(["restore", "files", "--snapshot", id, "--to", target])
            #expect(restore.status == (expected.contains(id) ? 3 : 0), "version \(index) in \(mode): \(restore.all)")
        }
    }

    /// `signature-fetched` kills the process when a signature is read from the repository: a
    /// run that survives it used the local cache.
    @Test func aWarmCacheNeedsNoSignatureFromTheRepository() throws {
        var workspace = try Self.workspace(mode: "incremental")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SeededGenerator(state: 4)
        var data = Self.randomBytes(2 << 20, &generator)
        let path = workspace.source + "/big.bin"
        try Self.write(data, to: path)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let cache = workspace.directory.subpath("cache/cairn")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: cache).contains { $0.hasSuffix("signatures") })

        var edited = workspace
        edited.environment["CAIRN_FAULT_INJECTION"] = "signature-fetched:1"
        Self.edit(&data, step: 4, &generator)
        try Self.write(data, to: path)
        let warm = try edited.run(["backup"])
        #expect(warm.status == 0, "a warm cache reads no signature from the repository: \(warm.all)")
        #expect(warm.standardOutput.contains("delta on "), "\(warm.all)")

        // A cold cache, and a damaged cache entry, need the repository's copy.
        try FileManager.default.removeItem(atPath: cache)
        Self.edit(&data, step: 4, &generator)
        try Self.write(data, to: path)
        #expect(try edited.run(["backup", "-q"]).status != 0, "a cold cache reads the signature from the repository")
        let cold = try workspace.run(["backup"])
        #expect(cold.status == 0 && cold.standardOutput.contains("delta on "), "\(cold.all)")
        let signatures = try FileManager.default.subpathsOfDirectory(atPath: cache).filter { $0.contains("signatures/") }
        for entry in signatures { try Data("damaged".utf8).write(to: URL(fileURLWithPath: cache + "/" + entry)) }
        Self.edit(&data, step: 4, &generator)
        try Self.write(data, to: path)
        #expect(try edited.run(["backup", "-q"]).status != 0, "a damaged cache entry is read again from the repository")
        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        let repaired = try workspace.run(["backup"])
        #expect(repaired.status == 0 && repaired.standardOutput.contains("delta on "), "\(repaired.all)")

        let ids = try Self.snapshotIDs(workspace)
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--snapshot", try #require(ids.last), "--to", target]).status == 0)
        #expect(FileManager.default.contents(atPath: workspace.restored(under: target) + "/big.bin").map { Array($0) } == data)
    }
}
