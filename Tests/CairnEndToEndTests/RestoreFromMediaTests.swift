import CairnTesting
import Foundation
import Testing

/// `--from DIR`: a repository read from media (a copied repository folder) with only its key.
@Suite("Restore from media")
struct RestoreFromMediaTests {
    /// A backed-up workspace with two snapshots, and a copy of its repository elsewhere; the
    /// destination is gone afterwards, as after a disaster.
    func copied() throws -> (workspace: Workspace, copy: String) {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 2026)
        _ = try generator.generate(files: 30, depth: 3)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try Data("second version".utf8).write(to: URL(fileURLWithPath: workspace.source + "/later.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let copy = workspace.directory.subpath("usb/files-copy")
        try FileManager.default.createDirectory(atPath: workspace.directory.subpath("usb"), withIntermediateDirectories: true)
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["-a", workspace.destination + "/files", copy]
        try cp.run()
        cp.waitUntilExit()
        #expect(cp.terminationStatus == 0)
        try FileManager.default.removeItem(atPath: workspace.destination)
        return (workspace, copy)
    }

    @Test func aCopiedRepositoryRestoresWithTheConfigsSetAndWithoutAnyConfig() throws {
        let (workspace, copy) = try copied()
        // With the config: the set's key; the destination is not needed.
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--from", copy, "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        let snapshots = try workspace.run(["snapshots", "files", "--from", copy, "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8)) as? [[String: Any]], "\(snapshots.all)")
        #expect(rows.count == 2)

        // No config at all: the key comes from the command line; SET must be the set's name.
        let bare = try TemporaryDirectory("cairn-bare")
        let keyFile = try bare.write("key", "correct horse battery staple\n")
        let environment = ["XDG_STATE_HOME": bare.subpath("state"), "XDG_CACHE_HOME": bare.subpath("cache"), "NO_COLOR": "1"]
        func cairn(_ arguments: [String]) throws -> CairnProcess.Output { try workspace.cairn.run(arguments, in: bare.path, environment: environment) }
        let other = try cairn(["ls", "anything", "--from", copy, "--key-file", keyFile])
        #expect(other.status == 1 && other.standardError.contains("holds the snapshots of backup set 'files', not 'anything': name it"), "\(other.all)")
        let listing = try cairn(["ls", "files", "--from", copy, "--key-file", keyFile])
        #expect(listing.status == 0 && listing.standardOutput.contains("later.txt"), "\(listing.all)")
        let first = try #require(rows.compactMap { $0["id"] as? String }.first)
        let oldTarget = bare.subpath("old")
        let old = try cairn(["restore", "files", "--from", copy, "--key-file", keyFile, "--snapshot", first, "--to", oldTarget])
        #expect(old.status == 0, "\(old.all)")
        #expect(FileManager.default.fileExists(atPath: oldTarget + workspace.source) != FileManager.default.fileExists(atPath: oldTarget + workspace.source + "/later.txt"), "the first snapshot has no later.txt")
        let verify = try cairn(["verify", "files", "--from", copy, "--key-file", keyFile, "--read-data"])
        #expect(verify.status == 0 && verify.standardOutput.contains("no problems"), "\(verify.all)")
        // Nothing was written into the copy: no lock, no new file.
        let lockFiles = try FileManager.default.subpathsOfDirectory(atPath: copy).filter { $0.hasPrefix("locks/") }
        #expect(lockFiles.isEmpty, "\(lockFiles)")
    }

    @Test func badMediaAndWrongKeysGetClearErrors() throws {
        let (workspace, copy) = try copied()
        let bare = try TemporaryDirectory("cairn-bare")
        let environment = ["XDG_STATE_HOME": bare.subpath("state"), "XDG_CACHE_HOME": bare.subpath("cache"), "NO_COLOR": "1", "WRONG": "not the key"]
        func cairn(_ arguments: [String]) throws -> CairnProcess.Output { try workspace.cairn.run(arguments, in: bare.path, environment: environment) }
        let noKey = try cairn(["snapshots", "x", "--from", copy])
        #expect(noKey.status == 1 && noKey.standardError.contains("is encrypted (aes-256-gcm) and the config defines no set 'x': give its key with --key-file"), "\(noKey.all)")
        let wrong = try cairn(["snapshots", "x", "--from", copy, "--key-env", "WRONG"])
        #expect(wrong.status == 1 && wrong.standardError.contains("key"), "\(wrong.all)")
        let notRepository = try cairn(["ls", "x", "--from", bare.path, "--key-env", "WRONG"])
        #expect(notRepository.status == 1 && notRepository.standardError.contains("is not a cairn repository: it has no cairn-repository file"), "\(notRepository.all)")
        let missing = try cairn(["ls", "x", "--from", bare.subpath("nowhere"), "--key-env", "WRONG"])
        #expect(missing.status == 1 && missing.standardError.contains("does not exist or is not a folder"), "\(missing.all)")
        let twoKeys = try cairn(["ls", "x", "--from", copy, "--key-env", "A", "--key-file", "/k"])
        #expect(twoKeys.status != 0 && twoKeys.standardError.contains("give the key one way"), "\(twoKeys.all)")
        // A copy whose descriptor was altered: named, nothing restored.
        let descriptor = copy + "/cairn-repository"
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: descriptor))
        let damaged = try workspace.run(["restore", "files", "--from", copy, "--to", bare.subpath("t")])
        #expect(damaged.status == 1 && damaged.standardError.contains("cairn-repository is not valid JSON"), "\(damaged.all)")
        #expect(!FileManager.default.fileExists(atPath: bare.subpath("t")))
    }

    @Test func aReadOnlyCopyRestoresForAnotherUser() throws {
        try #require(getuid() == 0, "run as root: the test reads the copy as nobody through runuser")
        let (workspace, copy) = try copied()
        // The copy belongs to root and nobody may write to it, as on write-protected media.
        let scratch = try TemporaryDirectory("cairn-nobody")
        chmod(scratch.path, 0o777)
        let keyFile = try scratch.write("key", "correct horse battery staple\n")
        chmod(keyFile, 0o644)
        var info = stat()
        var folder = copy
        while folder != "/" {
            if stat(folder, &info) == 0 { chmod(folder, info.st_mode & 0o7777 | 0o055) }
            folder = (folder as NSString).deletingLastPathComponent
        }
        let chmodCopy = Process()
        chmodCopy.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmodCopy.arguments = ["-R", "a+rX,go-w", copy]
        try chmodCopy.run()
        chmodCopy.waitUntilExit()
        let environment = ["XDG_STATE_HOME": scratch.subpath("state"), "XDG_CACHE_HOME": scratch.subpath("cache"), "HOME": scratch.path, "NO_COLOR": "1"]
        let target = scratch.subpath("out")
        let output = try workspace.cairn.run(
            ["restore", "files", "--from", copy, "--key-file", keyFile, "--to", target, "--no-permissions"], in: scratch.path,
            environment: environment, prefix: ["/usr/sbin/runuser", "-u", "nobody", "--"])
        #expect(output.status == 0, "\(output.all)")
        #expect(FileManager.default.contents(atPath: target + workspace.source + "/later.txt") == Data("second version".utf8))
    }
}
