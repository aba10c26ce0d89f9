import CairnTesting
import Foundation
import Testing

/// `local-copy:` (user guide 5.16): a second repository on another disk, kept up to date in the
/// same run, restorable with `--from`.
@Suite("Local copy")
struct LocalCopyTests {
    func workspace(_ localCopy: String = "./usb", retention: Bool = false, more: String = "") throws -> Workspace {
        let workspace = try Workspace(extra: """
                local-copy: \(localCopy)
            \(more)\(retention ? "    retention: two\nretention: {two: {keep-jobs: 2}}" : "")
            """)
        var generator = TreeGenerator(root: workspace.source, seed: 11)
        _ = try generator.generate(files: 20, depth: 3)
        try FileManager.default.createDirectory(atPath: workspace.directory.subpath("usb"), withIntermediateDirectories: true)
        return workspace
    }

    func snapshotIDs(_ workspace: Workspace, _ more: [String] = []) throws -> [String] {
        let output = try workspace.run(["snapshots", "files", "--json"] + more)
        let rows = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]]
        return (rows ?? []).compactMap { $0["id"] as? String }
    }

    @Test func theCopyFollowsEveryBackupAndPruneAndRestoresAlone() throws {
        let workspace = try workspace(retention: true)
        let plan = try workspace.run(["plan", "files"])
        #expect(plan.standardOutput.contains("~ local copy \(workspace.directory.subpath("usb"))/files: made after the backup"), "\(plan.all)")
        for round in 1...4 {
            try Data("round \(round)".utf8).write(to: URL(fileURLWithPath: workspace.source + "/changing.txt"))
            let backup = try workspace.run(["backup", "files"])
            #expect(backup.status == 0 && backup.standardOutput.contains("local copy "), "\(backup.all)")
        }
        // Retention keeps two snapshots: the copy holds exactly what the repository holds.
        let main = try snapshotIDs(workspace)
        #expect(main.count == 2)
        #expect(try snapshotIDs(workspace, ["--from", workspace.directory.subpath("usb")]) == main)
        let mainFiles = try FileManager.default.subpathsOfDirectory(atPath: workspace.destination + "/files").filter { !$0.hasPrefix("locks") }.sorted()
        let copyFiles = try FileManager.default.subpathsOfDirectory(atPath: workspace.directory.subpath("usb/files")).filter { !$0.hasPrefix("locks") }.sorted()
        #expect(mainFiles == copyFiles)
        // The destination is lost: the copy alone restores the set.
        try FileManager.default.removeItem(atPath: workspace.destination)
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--from", workspace.directory.subpath("usb"), "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
    }

    @Test func aCopyDiskThatIsAwayNeverFailsTheBackupAndIsCaughtUpLater() throws {
        let scratch = try TemporaryDirectory("cairn-copy")
        let got = scratch.subpath("notified")
        let workspace = try workspace(more: "    notify: {command: \"cat > '\(got)'\", when: problems}\n")
        try FileManager.default.removeItem(atPath: workspace.directory.subpath("usb"))
        let plan = try workspace.run(["plan", "files"])
        #expect(plan.standardOutput.contains("warning: the local copy folder") && plan.standardOutput.contains("is its disk mounted?"), "\(plan.all)")
        let away = try workspace.run(["backup", "files", "-q"])
        #expect(away.status == 0, "\(away.all)")
        #expect(away.standardError.contains("warning: backup set 'files': the local copy") && away.standardError.contains("the next run completes the copy"), "\(away.all)")
        #expect(!FileManager.default.fileExists(atPath: workspace.directory.subpath("usb")), "nothing is written below an unmounted disk")
        let notified = try #require(FileManager.default.contents(atPath: got), "a copy that failed is news: outcome problems")
        #expect(String(decoding: notified, as: UTF8.self).contains("\"outcome\" : \"problems\""))
        // The disk is back: the next run copies everything, the missed snapshot included.
        try FileManager.default.createDirectory(atPath: workspace.directory.subpath("usb"), withIntermediateDirectories: true)
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        #expect(try snapshotIDs(workspace, ["--from", workspace.directory.subpath("usb")]).count == 2)
    }

    @Test func aCopyKilledHalfWayIsWholeAtEveryStepAndCompletedByTheNextRun() throws {
        var workspace = try workspace()
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        try Data("more".utf8).write(to: URL(fileURLWithPath: workspace.source + "/new.txt"))
        for point in 1...3 {
            workspace.environment["CAIRN_FAULT_INJECTION"] = "local-copy-file:\(point)"
            _ = try workspace.run(["backup", "files", "-q"])
            workspace.environment["CAIRN_FAULT_INJECTION"] = nil
            // Whatever the copy shows restores: its snapshots come last.
            let ids = try snapshotIDs(workspace, ["--from", workspace.directory.subpath("usb")])
            let verify = try workspace.run(["verify", "files", "--from", workspace.directory.subpath("usb"), "--read-data"])
            #expect(verify.status == 0, "after a kill at copied file \(point): \(verify.all)")
            #expect(!ids.isEmpty)
        }
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        #expect(try snapshotIDs(workspace, ["--from", workspace.directory.subpath("usb")]) == snapshotIDs(workspace))
    }

    @Test func aCopyFolderHoldingAnotherRepositoryIsLeftAlone() throws {
        let workspace = try workspace()
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        // The destination is lost and a new repository started: the copy holds the only
        // history, and must not be mirrored away.
        try FileManager.default.removeItem(atPath: workspace.destination + "/files")
        let fresh = try workspace.run(["backup", "files", "-q", "--new-repository"])
        #expect(fresh.status == 0, "\(fresh.all)")
        #expect(fresh.standardError.contains("holds another repository") && fresh.standardError.contains("it is left as it is"), "\(fresh.all)")
        #expect(try snapshotIDs(workspace, ["--from", workspace.directory.subpath("usb")]).count == 1, "the old history is still there")
    }

    @Test func onlyBacksUpToTheCopyAlone() throws {
        let workspace = try workspace("{path: ./usb, only: true}")
        let backup = try workspace.run(["backup", "files", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).isEmpty, "the offsite destination is skipped")
        #expect(FileManager.default.fileExists(atPath: workspace.directory.subpath("usb/files/cairn-repository")))
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        try FileManager.default.removeItem(atPath: workspace.directory.subpath("usb"))
        let away = try workspace.run(["backup", "files", "-q"])
        #expect(away.status == 1 && away.standardError.contains("is its disk mounted?"), "with only a local copy, a missing disk fails the backup: \(away.all)")
    }
}
