import CairnTesting
import Foundation
import Testing

/// Root restores into a folder an unprivileged user can write (a user's home): that user can
/// swap whatever the restore made for a link to a root-only file while it runs. A fault point
/// stops the restore (SIGSTOP) at the moment of the swap, so each race is won every time.
@Suite("Restore safety: races on the target")
struct RestoreSafetyTests {
    static let nobody: uid_t = 65534

    /// A workspace nobody can walk through (not read), a target folder owned by nobody, and a
    /// root-only file for the swapped-in link to point at.
    static func prepare(_ workspace: Workspace) throws -> (target: String, secret: String) {
        chmod(workspace.directory.path, 0o711)
        let target = workspace.directory.subpath("home")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        chown(target, nobody, nobody)
        let secret = workspace.directory.subpath("root-only")
        try Data("root only\n".utf8).write(to: URL(fileURLWithPath: secret))
        chmod(secret, 0o600)
        return (target, secret)
    }

    /// Runs `script` as nobody (the attacker).
    static func asNobody(_ script: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        process.arguments = ["-u", "nobody", "--", "/bin/sh", "-c", script]
        try? process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func expectUntouched(_ secret: String, _ before: stat) {
        var now = stat()
        #expect(lstat(secret, &now) == 0)
        #expect(now.st_mode == before.st_mode, "the root-only file's mode became \(String(now.st_mode, radix: 8))")
        #expect(now.st_uid == 0 && now.st_gid == 0, "the root-only file's owner became \(now.st_uid):\(now.st_gid)")
        #expect(now.st_mtim.tv_sec == before.st_mtim.tv_sec && now.st_mtim.tv_nsec == before.st_mtim.tv_nsec, "its times changed")
        #expect(FileManager.default.contents(atPath: secret) == Data("root only\n".utf8))
    }

    /// The restore made a folder (the first it makes, in the target nobody owns); nobody moves
    /// it away and puts a link to the root-only file in its place. Today's folder modes at the
    /// end went through the link (the file became 1777).
    @Test(.enabled(if: getuid() == 0)) func aFolderSwappedForALinkIsReportedAndNotFollowed() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source + "/inner", withIntermediateDirectories: true)
        try Data("a file".utf8).write(to: URL(fileURLWithPath: workspace.source + "/inner/a.txt"))
        chmod(workspace.source, 0o1777)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let (target, secret) = try Self.prepare(workspace)
        var before = stat()
        lstat(secret, &before)

        var environment = workspace.environment
        environment["CAIRN_FAULT_INJECTION"] = "restore-folder-created:1:STOP"
        let running = try workspace.cairn.start(["restore", "files", "--to", target], in: workspace.directory.path, environment: environment)
        #expect(running.waitUntilStopped(), "the restore stops where it made its first folder")
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: target).first)
        #expect(Self.asNobody("cd '\(target)' && mv '\(first)' moved && ln -s '\(secret)' '\(first)'") == 0, "nobody can swap it")
        running.resume()
        let restore = try running.wait()

        Self.expectUntouched(secret, before)
        #expect(restore.status == 3, "the swap is a problem: \(restore.all)")
        #expect(restore.all.contains("replaced or moved while the restore ran"), "\(restore.all)")
    }

    /// An entry is written under a temporary name in a folder nobody owns (it was already
    /// there: restoring over a user's files); nobody replaces it with a link to the root-only
    /// file before its owner, mode, times and attributes are set. A fifo's mode went through
    /// the link; a file's link was renamed into place and the restore said "problems 0". A
    /// file is written without a name where the file system allows (`file`): there is nothing
    /// to swap; "named file" is the way of file systems without unnamed files.
    @Test(.enabled(if: getuid() == 0), arguments: ["file", "named file", "fifo"])
    func anEntrySwappedBeforeItsMetadataIsReportedAndNotFollowed(kind: String) throws {
        var workspace = try Workspace()
        if kind == "named file" { workspace.environment["CAIRN_RESTORE_NAMED_TEMPORARIES"] = "1" }
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        if kind != "fifo" {
            try Data("content".utf8).write(to: URL(fileURLWithPath: workspace.source + "/entry"))
        } else {
            mkfifo(workspace.source + "/entry", 0o666)
        }
        chmod(workspace.source + "/entry", 0o4777)
        TreeComparison.setXattr(workspace.source + "/entry", "trusted.cairn", Array("x".utf8))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let (target, secret) = try Self.prepare(workspace)
        var before = stat()
        lstat(secret, &before)
        // The folders leading to the entry exist already and are nobody's.
        let folder = workspace.restored(under: target)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var path = folder
        while path != target {
            chown(path, Self.nobody, Self.nobody)
            path = (path as NSString).deletingLastPathComponent
        }

        var environment = workspace.environment
        environment["CAIRN_FAULT_INJECTION"] = "restore-entry-created:1:STOP"
        let running = try workspace.cairn.start(["restore", "files", "--to", target], in: workspace.directory.path, environment: environment)
        #expect(running.waitUntilStopped(), "the restore stops where it made the entry")
        if kind == "file" {
            // Written, its metadata not set yet, and under no name anyone could swap.
            #expect(Self.leftovers(under: folder) == [], "no temporary name")
            #expect(!FileManager.default.fileExists(atPath: folder + "/entry"), "not under its name before it is complete")
            running.resume()
            let restore = try running.wait()
            Self.expectUntouched(secret, before)
            #expect(restore.status == 0, "\(restore.all)")
            var info = stat()
            #expect(lstat(folder + "/entry", &info) == 0)
            #expect(info.st_mode == S_IFREG | 0o4777 && info.st_uid == 0, "mode \(String(info.st_mode, radix: 8)), owner \(info.st_uid)")
            #expect(FileManager.default.contents(atPath: folder + "/entry") == Data("content".utf8))
            #expect(TreeComparison.xattrs(Array((folder + "/entry").utf8))["trusted.cairn"] == Array("x".utf8))
            return
        }
        let swapped = Self.asNobody("cd '\(folder)' && for f in .cairn-restore-*; do mv \"$f\" moved && ln -s '\(secret)' \"$f\"; done")
        #expect(swapped == 0, "nobody can swap it")
        running.resume()
        let restore = try running.wait()

        Self.expectUntouched(secret, before)
        #expect(restore.status == 3, "the swap is a problem: \(restore.all)")
        #expect(restore.all.contains("replaced or moved while the restore ran"), "\(restore.all)")
    }

    /// Leftovers an interrupted restore may leave: folders still private (0700) and
    /// `.cairn-restore-*` temporary files.
    static func leftovers(under root: String) -> [String] {
        let names = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return names.filter { ($0 as NSString).lastPathComponent.hasPrefix(".cairn-restore-") }
    }

    /// kill -9 at points of a restore, then the same restore with default options: it removes
    /// the temporary files, keeps what was restored, gives folders left private their mode and
    /// finds the fifo, links and hard links it made identical.
    /// "named": as on a file system without unnamed files (files written under temporary names).
    @Test(arguments: [
        "file-restored:1", "file-restored:9", "file-restored:25", "restore-folder-created:3", "restore-entry-created:14",
        "file-restored:9 named", "restore-entry-created:14 named", "restore-entry-created:20 named",
    ])
    func aKilledRestoreRunAgainFinishesTheJob(point: String) throws {
        var workspace = try Workspace()
        let named = point.hasSuffix(" named")
        if named { workspace.environment["CAIRN_RESTORE_NAMED_TEMPORARIES"] = "1" }
        var generator = TreeGenerator(root: workspace.source, seed: 7)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let target = workspace.directory.subpath("restore")
        var killed = workspace
        killed.environment["CAIRN_FAULT_INJECTION"] = named ? String(point.dropLast(6)) : point
        let crash = try killed.run(["restore", "files", "--to", target])
        #expect(crash.status == 9, "killed at \(point): \(crash.all)")
        if named && point.hasPrefix("restore-entry-created") {
            #expect(!Self.leftovers(under: target).isEmpty, "the entry being made is left under its temporary name")
        }

        let again = try workspace.run(["restore", "files", "--to", target])
        #expect(again.status == 0, "\(again.all)")
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
        #expect(Self.leftovers(under: target) == [])
    }

    /// A second restore over a complete one finds every entry identical (a fifo and symbolic
    /// links included: the fifo was "exists and differs"), and gives entries whose metadata
    /// changed since the snapshot's metadata again.
    @Test func aRestoreRunAgainFindsSpecialFilesIdenticalAndSetsTheirMetadata() throws {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 42)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        let restored = workspace.restored(under: target)
        chmod(restored + "/pipe", 0o600)
        chmod(restored + "/deep", 0o700)
        chmod(restored + "/script.sh", 0o644)
        var old = [timespec(tv_sec: 1000, tv_nsec: 0), timespec(tv_sec: 1000, tv_nsec: 0)]
        utimensat(AT_FDCWD, restored + "/link-to-dir", &old, AT_SYMLINK_NOFOLLOW)

        let again = try workspace.run(["restore", "files", "--to", target, "--verbose"])
        #expect(again.status == 0, "\(again.all)")
        #expect(again.standardOutput.contains("identical \(workspace.source)/pipe"), "\(again.all)")
        #expect(again.standardOutput.contains("identical \(workspace.source)/link-to-dir"), "\(again.all)")
        #expect(again.standardOutput.contains("wrote 0 (0 B)"), "\(again.all)")
        let differences = TreeComparison.differences(workspace.source, restored)
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }
}
