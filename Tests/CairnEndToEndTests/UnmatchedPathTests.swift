import CairnTesting
import Foundation
import Testing

/// A PATH of restore or ls that matches nothing in the snapshot is an error naming it and the
/// snapshot: a typo must not look like a restore of nothing.
@Suite("Restore and ls of paths that match nothing")
struct UnmatchedPathTests {
    /// A source with `a.txt` and `sub/b.txt`, backed up; then `old.txt`, only in an older
    /// snapshot. Returns the latest snapshot's short id.
    static func backUp(_ workspace: Workspace) throws -> String {
        try FileManager.default.createDirectory(atPath: workspace.source + "/sub", withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: workspace.source + "/old.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.removeItem(atPath: workspace.source + "/old.txt")
        try Data("a".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        try Data("b".utf8).write(to: URL(fileURLWithPath: workspace.source + "/sub/b.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let list = try workspace.run(["snapshots", "files", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.standardOutput.utf8)) as? [[String: Any]])
        return String(try #require(rows.last?["id"] as? String).prefix(8))
    }

    @Test func restoreFailsNamingThePathsThatMatchNothingAndWritesNothing() throws {
        let workspace = try Workspace()
        let snapshot = try Self.backUp(workspace)
        let target = workspace.directory.subpath("restore")

        let typo = try workspace.run(["restore", "files", "--to", target, workspace.source + "/a.tx"])
        #expect(typo.status == 1, "\(typo.all)")
        #expect(typo.standardError.contains("nothing in snapshot \(snapshot) of set 'files' matches '\(workspace.source)/a.tx'; nothing was restored"))
        #expect(!typo.standardOutput.contains("wrote"))

        // Some match, some do not: the ones that do not are named, and nothing is written.
        let mixed = try workspace.run(["restore", "files", "--to", target, workspace.source + "/a.txt", workspace.source + "/nope", workspace.source + "/*.doc"])
        #expect(mixed.status == 1, "\(mixed.all)")
        #expect(mixed.standardError.contains("matches '\(workspace.source)/nope', '\(workspace.source)/*.doc'"))
        #expect(!mixed.standardError.contains("'\(workspace.source)/a.txt'"))
        #expect(!FileManager.default.fileExists(atPath: target), "checked before anything is written")

        let olderOnly = try workspace.run(["restore", "files", "--to", target, workspace.source + "/old.txt"])
        #expect(olderOnly.status == 1, "old.txt is only in an older snapshot: \(olderOnly.all)")

        let dryRun = try workspace.run(["restore", "files", "--dry-run", "--to", target, workspace.source + "/nope"])
        #expect(dryRun.status == 1)
        #expect(dryRun.standardError.contains("nothing in snapshot \(snapshot) of set 'files' matches '\(workspace.source)/nope'"))

        let glob = try workspace.run(["restore", "files", "--to", target, workspace.source + "/*.txt", workspace.source + "/sub"])
        #expect(glob.status == 0, "\(glob.all)")
        #expect(glob.standardOutput.contains("wrote 2"))
        #expect(FileManager.default.fileExists(atPath: workspace.restored(under: target) + "/sub/b.txt"))
    }

    @Test func lsFailsNamingThePathThatMatchesNothing() throws {
        let workspace = try Workspace()
        let snapshot = try Self.backUp(workspace)

        let typo = try workspace.run(["ls", "files", workspace.source + "/sub/c.txt"])
        #expect(typo.status == 1, "\(typo.all)")
        #expect(typo.standardError.contains("nothing in snapshot \(snapshot) of set 'files' matches '\(workspace.source)/sub/c.txt'"))
        #expect(typo.standardOutput.isEmpty)
        let noGlob = try workspace.run(["ls", "files", workspace.source + "/*.doc"])
        #expect(noGlob.status == 1)
        #expect(noGlob.standardError.contains("matches '\(workspace.source)/*.doc'"))
        #expect(try workspace.run(["ls", "files", workspace.source + "/old.txt"]).status == 1, "only in an older snapshot")

        let old = try workspace.run(["ls", "files", "--all-versions", workspace.source + "/old.txt"])
        #expect(old.status == 0, "\(old.all)")
        #expect(old.standardOutput.contains("/old.txt  ["))
        let never = try workspace.run(["ls", "files", "--all-versions", workspace.source + "/never"])
        #expect(never.status == 1)
        #expect(never.standardError.contains("nothing in any snapshot of set 'files' matches '\(workspace.source)/never'"))

        let folder = try workspace.run(["ls", "files", workspace.source + "/sub"])
        #expect(folder.status == 0)
        #expect(folder.standardOutput.split(separator: "\n").count == 2, "the folder and its file: \(folder.standardOutput)")
        let glob = try workspace.run(["ls", "files", workspace.source + "/*b.txt"])
        #expect(glob.status == 0)
        #expect(glob.standardOutput.split(separator: "\n").map { $0.split(separator: " ").last.map(String.init) ?? "" } == [workspace.source + "/sub/b.txt"])
        #expect(try workspace.run(["ls", "files", "source"]).status == 64, "a relative path is a usage error")
    }
}
