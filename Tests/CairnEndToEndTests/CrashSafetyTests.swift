import CairnTesting
import Foundation
import Testing

/// Backups killed at chosen points (a fault-injection hook, not timing) leave a repository that
/// verifies clean, and the next backup does not store again what was stored.
@Suite("Crash safety")
struct CrashSafetyTests {
    /// A source of about 40 MB of random data in 5 files: five packs or more.
    static func makeSource(_ workspace: Workspace) throws {
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        for number in 0..<5 {
            let bytes = (0..<(8 << 20) / 8).map { _ in generator.next() as UInt64 }
            try bytes.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: workspace.source + "/part\(number).bin")) }
        }
        try Data("a small file".utf8).write(to: URL(fileURLWithPath: workspace.source + "/small.txt"))
    }

    static func stored(_ output: CairnProcess.Output) -> Double? {
        guard let range = output.standardOutput.range(of: "stored ") else { return nil }
        let text = output.standardOutput[range.upperBound...].prefix { $0 != "\n" && $0 != ";" && $0 != "," }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let value = Double(parts[0]) else { return nil }
        return value * (parts[1] == "MB" ? 1e6 : parts[1] == "kB" ? 1e3 : parts[1] == "GB" ? 1e9 : 1)
    }

    @Test(arguments: ["pack-written:2", "index-written:1", "before-snapshot:1"])
    func aKilledBackupLeavesAValidRepository(point: String) throws {
        var workspace = try Workspace()
        try Self.makeSource(workspace)
        var killed = workspace
        killed.environment["CAIRN_FAULT_INJECTION"] = point
        let crash = try killed.run(["backup", "-q"])
        #expect(crash.status != 0 && crash.status != 1, "the process was killed: \(crash.all)")

        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")

        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        let again = try workspace.run(["backup"])
        #expect(again.status == 0, "\(again.all)")
        let stored = try #require(Self.stored(again), "\(again.all)")
        #expect(stored < 30e6, "packs written before the crash are not stored again (stored \(stored))")

        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func anInterruptedBackupCommitsAPartialSnapshot() throws {
        var workspace = try Workspace()
        try Self.makeSource(workspace)
        workspace.environment["CAIRN_FAULT_INJECTION"] = "file-stored:2:INT"
        let interrupted = try workspace.run(["backup", "-q"])
        #expect(interrupted.status == 1)
        #expect(interrupted.standardError.contains("interrupted: snapshot"))
        #expect(interrupted.standardError.contains("marked partial"))

        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        let list = try workspace.run(["snapshots", "files"])
        #expect(list.standardOutput.contains("partial"))
        let target = workspace.directory.subpath("partial")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        let restored = try FileManager.default.contentsOfDirectory(atPath: workspace.restored(under: target)).sorted()
        // Files are read a few at a time: those finished when the signal came are in it.
        #expect(restored.count >= 2 && restored.count < 6, "the files stored before the signal: \(restored)")
        for name in restored {
            #expect(FileManager.default.contents(atPath: workspace.restored(under: target) + "/" + name) == FileManager.default.contents(atPath: workspace.source + "/" + name))
        }
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)

        let rest = try workspace.run(["backup", "-q"])
        #expect(rest.status == 0)
        let full = workspace.directory.subpath("full")
        #expect(try workspace.run(["restore", "files", "--to", full]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: full)) == [])
    }
}
