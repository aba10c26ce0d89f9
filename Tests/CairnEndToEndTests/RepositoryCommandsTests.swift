import CairnTesting
import Foundation
import Testing

@Suite("verify, key and pre/post commands through the built binary")
struct RepositoryCommandsTests {
    func packs(_ workspace: Workspace) throws -> [String] {
        let data = workspace.destination + "/files/data"
        return try FileManager.default.subpathsOfDirectory(atPath: data).filter { $0.count > 3 }.map { data + "/" + $0 }.sorted()
    }

    @Test func aFlippedByteIsFoundAndUnaffectedFilesStillRestore() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        // Two files in two packs: the first fills a pack on its own.
        var random = SystemRandomNumberGenerator()
        let big = (0..<(9 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
        try Data(big).write(to: URL(fileURLWithPath: workspace.source + "/big.bin"))
        try Data("small and safe".utf8).write(to: URL(fileURLWithPath: workspace.source + "/small.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)

        // Damage the pack holding big.bin's first chunk.
        let damaged = try #require(try packs(workspace).max { try FileManager.default.attributesOfItem(atPath: $0)[.size] as! Int > 0 && (try FileManager.default.attributesOfItem(atPath: $0)[.size] as! Int) < (try FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: damaged))
        try handle.seek(toOffset: 1000)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: 1000)
        try handle.write(contentsOf: Data([byte ^ 0x40]))
        try handle.close()

        let structural = try workspace.run(["verify", "files"])
        #expect(structural.status == 0, "a structural check does not read data: \(structural.all)")
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 1)
        #expect(verify.standardOutput.contains("damaged: data "))
        #expect(verify.standardOutput.contains("affects \(workspace.source)/big.bin in snapshot"))
        #expect(!verify.standardOutput.contains("small.txt"))

        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target, workspace.source + "/small.txt"])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/small.txt", encoding: .utf8) == "small and safe")
        let broken = try workspace.run(["restore", "files", "--to", target, workspace.source + "/big.bin"])
        #expect(broken.status == 3)
        #expect(!FileManager.default.fileExists(atPath: workspace.restored(under: target) + "/big.bin"), "damaged data is never written in place")
    }

    @Test func keysCanBeAddedListedChangedAndRemoved() throws {
        var workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: workspace.source + "/x"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        workspace.environment["RECOVERY"] = "offline recovery key"
        let add = try workspace.run(["key", "add", "files", "--new-key-env", "RECOVERY", "--label", "recovery"])
        #expect(add.status == 0, "\(add.all)")
        let list = try workspace.run(["key", "list", "files"])
        #expect(list.standardOutput.contains("recovery"))
        #expect(list.standardOutput.contains("(in use)"))
        #expect(list.standardOutput.split(separator: "\n").count == 3)

        // The recovery key opens the set on its own.
        workspace.environment["CAIRN_KEY"] = "offline recovery key"
        #expect(try workspace.run(["snapshots", "files"]).status == 0)
        workspace.environment["NEW"] = "a brand new key"
        let change = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(change.status == 0, "\(change.all)")
        #expect(try workspace.run(["snapshots", "files"]).status == 1, "the changed key no longer opens the set")
        workspace.environment["CAIRN_KEY"] = "a brand new key"
        #expect(try workspace.run(["snapshots", "files"]).status == 0)
        let missing = try workspace.run(["key", "add", "files"])
        #expect(missing.status == 64)
    }

    @Test func preAndPostCommandsRunAroundTheBackup() throws {
        let scratch = try TemporaryDirectory()
        let workspace = try Workspace(extra: """
                commands:
                  pre:
                    - {name: dump, run: "printf 'dumped by %s' \\"$CAIRN_SET\\" > source/dump.sql; echo made the dump", cwd: "${WORKSPACE}", timeout: 30s}
                  post:
                    - {name: report, run: "echo \\"$CAIRN_STATUS $CAIRN_JOB_ID\\" > post.txt", cwd: \(scratch.path)}
            """)
        var environment = workspace.environment
        environment["WORKSPACE"] = workspace.directory.path
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)

        let output = try workspace.cairn.run(["backup"], in: workspace.directory.path, environment: environment)
        #expect(output.status == 0, "\(output.all)")
        #expect(output.standardOutput.contains("[pre dump] made the dump"))
        #expect(output.standardOutput.contains("pre-command 'dump' succeeded"))
        #expect(output.standardOutput.contains("+ \(workspace.source)/dump.sql"), "the pre-command ran before the scan")
        let post = try String(contentsOfFile: scratch.subpath("post.txt"), encoding: .utf8)
        #expect(post.hasPrefix("complete "))
        let snapshots = try workspace.cairn.run(["snapshots", "files", "--json"], in: workspace.directory.path, environment: environment)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8)) as? [[String: Any]])
        #expect(post.contains(rows.last?["id"] as? String ?? "missing"), "CAIRN_JOB_ID is the snapshot's id")
    }

    @Test func aFailingPreCommandAbortsTheJobButPostCommandsRun() throws {
        let workspace = try Workspace(extra: """
                commands:
                  pre: [{name: check, run: "echo not ready; exit 4"}]
                  post: [{name: after, run: "echo $CAIRN_STATUS > \(FileManager.default.temporaryDirectory.path)/cairn-post-status-\(getpid())"}]
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        let output = try workspace.run(["backup"])
        #expect(output.status == 1)
        #expect(output.standardOutput.contains("[pre check] not ready"))
        #expect(output.standardError.contains("pre-command 'check' failed with exit status 4; the backup did not run"))
        let statusFile = FileManager.default.temporaryDirectory.path + "/cairn-post-status-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: statusFile) }
        #expect(try String(contentsOfFile: statusFile, encoding: .utf8) == "failed\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).isEmpty)
    }

    @Test func aTimedOutCommandIsStopped() throws {
        let workspace = try Workspace(extra: """
                commands:
                  pre: [{name: slow, run: "sleep 30", timeout: 1s, on-failure: continue}]
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        let started = Date()
        let output = try workspace.run(["backup", "-q"])
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(output.status == 0, "on-failure: continue lets the job run: \(output.all)")
        #expect(output.standardOutput.contains("pre-command 'slow' was stopped after its timeout of 1s"))
    }
}
