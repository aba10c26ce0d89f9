import CairnTesting
import Foundation
import Testing

/// A full or read-only destination: a clear error, and the repository stays valid. These need
/// root to mount a small file system; elsewhere they are skipped.
@Suite("A full or read-only destination")
struct DestinationFailureTests {
    static var canMount: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount") }

    func mountSmall(_ path: String, size: String, options: String = "") -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-t", "tmpfs", "-o", "size=\(size)" + (options.isEmpty ? "" : "," + options), "tmpfs", path]
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    func unmount(_ path: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = [path]
        try? process.run()
        process.waitUntilExit()
    }

    func remountReadOnly(_ path: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-o", "remount,ro", path]
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test(.enabled(if: canMount)) func aFullDiskIsAClearErrorAndLosesNothing() throws {
        let workspace = try Workspace()
        try #require(mountSmall(workspace.destination, size: "3m"), "a tmpfs of 3 MB could not be mounted")
        defer { unmount(workspace.destination) }
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/first.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)

        var generator = SystemRandomNumberGenerator()
        let big = (0..<(6 << 20) / 8).map { _ in generator.next() as UInt64 }
        try big.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: workspace.source + "/big.bin")) }
        let full = try workspace.run(["backup", "-q"])
        #expect(full.status == 1)
        #expect(full.standardError.contains("no space left on the device"), "\(full.all)")
        // The failed run's job report still has its plan's counts (made beside the run).
        let log = try workspace.run(["log", "files", "--json"])
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(log.standardOutput.utf8)) as? [[String: Any]], "\(log.all)")
        let failed = try #require(reports.first { $0["status"] as? String == "failed" }, "\(log.all)")
        let plan = try #require(failed["plan"] as? [String: Any], "\(failed)")
        #expect(plan["newFiles"] as? Int == 1 && plan["bytesToRead"] as? Int == 6 << 20 && plan["unchangedFiles"] as? Int == 1, "\(plan)")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: workspace.destination).filter { $0.split(separator: "/").last?.hasPrefix(".tmp-") == true }
        #expect(leftovers == [], "the pack being written is removed, not left taking the space")

        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0, "the repository is still valid")
        try FileManager.default.removeItem(atPath: workspace.source + "/big.bin")
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/first.txt", encoding: .utf8) == "first")
    }

    @Test(.enabled(if: canMount)) func aReadOnlyDestinationIsAClearError() throws {
        let workspace = try Workspace()
        try #require(mountSmall(workspace.destination, size: "8m"), "a tmpfs of 8 MB could not be mounted")
        defer { unmount(workspace.destination) }
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/first.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try #require(remountReadOnly(workspace.destination), "the tmpfs could not be remounted read-only")
        try Data("second".utf8).write(to: URL(fileURLWithPath: workspace.source + "/second.txt"))
        let output = try workspace.run(["backup", "-q"])
        #expect(output.status == 1)
        #expect(output.standardError.contains("read-only file system"), "\(output.all)")
        #expect(try workspace.run(["snapshots", "files"]).standardOutput.contains("complete"))
        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "a read-only copy restores: \(restore.all)")
        #expect(try workspace.run(["verify", "files"]).status == 0)
    }
}
