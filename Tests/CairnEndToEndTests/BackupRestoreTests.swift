import CairnCore
import CairnTesting
import Foundation
import Testing

/// A workspace: a source tree, a destination and a config, driven through the built binary.
struct Workspace {
    let directory: TemporaryDirectory
    let cairn = CairnProcess()
    var environment = ["CAIRN_KEY": "correct horse battery staple", "NO_COLOR": "1"]

    var source: String { directory.subpath("source") }
    var destination: String { directory.subpath("destination") }

    init(algorithm: String = "aes-256-gcm", extra: String = "") throws {
        directory = try TemporaryDirectory("cairn-e2e")
        environment["XDG_STATE_HOME"] = directory.subpath("state")
        environment["XDG_CACHE_HOME"] = directory.subpath("cache")
        try FileManager.default.createDirectory(atPath: directory.subpath("destination"), withIntermediateDirectories: true)
        let key = algorithm == "none" ? "" : ", key: {env: CAIRN_KEY}"
        try directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption: {default: {algorithm: \(algorithm)\(key)}}
            backup-sets:
              files:
                account: local
                sources: [./source]
            \(extra)
            """)
    }

    func run(_ arguments: [String]) throws -> CairnProcess.Output {
        try cairn.run(arguments, in: directory.path, environment: environment)
    }

    /// Checks a JSON document against one of the project's schemas (python3-jsonschema).
    static func validate(_ document: String, against schema: String) throws -> String {
        let scratch = try TemporaryDirectory()
        let file = try scratch.write("plan.json", document)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))); print('valid')", file, SourceTree.path(schema)]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Runs cairn on a pseudo-terminal (util-linux `script`), typing `input` after `delay`
    /// seconds; colour is on unless `environment` sets NO_COLOR.
    func onTerminal(_ arguments: [String], input: String, delay: Int = 0, environment extra: [String: String] = [:]) throws -> String {
        let scratch = try TemporaryDirectory()
        let typed = try scratch.write("input", input)
        let command = ([cairn.executable] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "(sleep \(delay); cat '\(typed)') | /usr/bin/script -qec \"$0\" /dev/null", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        var merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        merged["NO_COLOR"] = nil
        for (key, value) in extra { merged[key] = value }
        process.environment = merged
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Where a restore with `--to DIR` puts the source folder.
    func restored(under target: String) -> String { target + source }
}

@Suite("Backup and restore through the built binary")
struct BackupRestoreTests {
    @Test(arguments: ["aes-256-gcm", "chacha20-poly1305", "none"])
    func aGeneratedTreeComesBackByteAndMetadataExact(algorithm: String) throws {
        let workspace = try Workspace(algorithm: algorithm)
        var generator = TreeGenerator(root: workspace.source, seed: 42)
        try generator.generate()
        #expect(TreeComparison.xattrs(Array((workspace.source + "/script.sh").utf8))["user.cairn.note"] == Array("a note".utf8), "the file system keeps xattrs")
        #expect(TreeComparison.xattrs(Array((workspace.source + "/shared.txt").utf8))["system.posix_acl_access"] != nil, "the file system keeps ACLs")

        let backup = try workspace.run(["backup"])
        #expect(backup.status == 0, "\(backup.all)")
        #expect(backup.standardOutput.contains("+ set files: new repository at"))
        #expect(backup.standardOutput.contains("files: snapshot "))

        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")

        var info = stat()
        #expect(lstat(workspace.restored(under: target) + "/sparse.img", &info) == 0)
        #expect(info.st_blocks * 512 < 1 << 20, "the 8 MB sparse file restores sparse (\(info.st_blocks * 512) bytes allocated)")

        if algorithm != "none" {
            // Names and contents are encrypted: the destination shows neither.
            for path in try FileManager.default.subpathsOfDirectory(atPath: workspace.destination) {
                let bytes = FileManager.default.contents(atPath: workspace.destination + "/" + path) ?? Data()
                #expect(bytes.range(of: Data("linked-again".utf8)) == nil, "\(path) shows a file name")
                #expect(bytes.range(of: Data("two names, one file".utf8)) == nil, "\(path) shows file content")
            }
        }
    }

    /// A backup with nothing changed takes extended attributes from the previous snapshot; a
    /// changed attribute (which moves the file's ctime) is read again.
    @Test func extendedAttributesOfUnchangedFilesAreKeptAndChangesAreSeen() throws {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 42)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let first = workspace.directory.subpath("restore-unchanged")
        #expect(try workspace.run(["restore", "files", "--to", first]).status == 0)
        var differences = TreeComparison.differences(workspace.source, workspace.restored(under: first))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")

        let note = Array("changed".utf8)
        #expect(TreeComparison.setXattr(workspace.source + "/script.sh", "user.cairn.note", note))
        #expect(TreeComparison.setXattr(workspace.source + "/deep", "user.cairn.folder", note))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let second = workspace.directory.subpath("restore-changed")
        #expect(try workspace.run(["restore", "files", "--to", second]).status == 0)
        differences = TreeComparison.differences(workspace.source, workspace.restored(under: second))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
        #expect(TreeComparison.xattrs(Array((workspace.restored(under: second) + "/script.sh").utf8))["user.cairn.note"] == note)
        #expect(TreeComparison.xattrs(Array((workspace.restored(under: second) + "/deep").utf8))["user.cairn.folder"] == note)
    }

    /// A restored file is made with its permissions where the umask leaves them (sparing a
    /// chmod) and given them afterwards where it does not; a chown is spared when the owner is
    /// already right. Under any umask, as root, every file's mode and owner come back: set-id
    /// and sticky bits, no permissions at all, owners other than root's, a file of many chunks.
    @Test func modesAndOwnersComeBackUnderAnyUmask() throws {
        try #require(geteuid() == 0, "owners other than one's own are restored by root (CI runs as root)")
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        var random = SeededGenerator(state: 41)
        let files: [(name: String, mode: mode_t, uid: uid_t, gid: gid_t, size: Int)] = [
            ("plain", 0o644, 0, 0, 100), ("script", 0o755, 0, 0, 5000), ("private", 0o600, 1234, 5678, 10),
            ("read-only", 0o444, 0, 0, 1), ("nothing", 0o000, 1234, 0, 7), ("setuid", 0o4755, 1234, 5678, 300),
            ("setgid", 0o2750, 0, 5678, 300), ("sticky", 0o1644, 0, 0, 20), ("group-write", 0o664, 0, 5678, 4096),
            ("large", 0o640, 4321, 4321, 5 << 20),
        ]
        for file in files {
            let path = workspace.source + "/" + file.name
            try Data(random.bytes(file.size)).write(to: URL(fileURLWithPath: path))
            #expect(chown(path, file.uid, file.gid) == 0)
            #expect(chmod(path, file.mode) == 0)
        }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // Unnamed files, and files under a temporary name (made private, then given their mode).
        for (mask, named) in [("077", false), ("022", false), ("000", false), ("777", false), ("022", true), ("000", true)] {
            let target = workspace.directory.subpath("restore-\(mask)-\(named)")
            var environment = workspace.environment
            if named { environment["CAIRN_RESTORE_NAMED_TEMPORARIES"] = "1" }
            let restore = try workspace.cairn.run(
                ["restore", "files", "--to", target], in: workspace.directory.path, environment: environment,
                prefix: ["/bin/sh", "-c", "umask \(mask) && exec \"$@\"", "sh"])
            #expect(restore.status == 0, "umask \(mask): \(restore.standardError)")
            let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
            #expect(differences == [], "umask \(mask): \(differences.joined(separator: "\n"))")
            for file in files {
                var info = stat()
                #expect(lstat(workspace.restored(under: target) + "/" + file.name, &info) == 0)
                #expect(info.st_mode & 0o7777 == file.mode, "umask \(mask): \(file.name)")
                #expect(info.st_uid == file.uid && info.st_gid == file.gid, "umask \(mask): \(file.name) is owned by \(info.st_uid):\(info.st_gid)")
            }
        }
    }

    /// Files from 64 KiB up to those written past the page cache (8 MiB) let their pages go
    /// as later ones are written, and the last ones after the final flush: a restore leaves
    /// none of them in the cache, and every byte and attribute as it was; also through
    /// temporary names.
    @Test func midSizeFilesComeBackExactAndOutOfThePageCache() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source + "/nested/deeper", withIntermediateDirectories: true)
        var random = SeededGenerator(state: 77)
        var names: [String] = []
        for index in 0..<90 {
            let name = (index % 3 == 0 ? "nested/" : index % 3 == 1 ? "nested/deeper/" : "") + "file-\(index)"
            let size = (64 << 10) + Int(random.next() % UInt64(index == 0 ? 7 << 20 : 400 << 10))
            try Data(random.bytes(size)).write(to: URL(fileURLWithPath: workspace.source + "/" + name))
            names.append(name)
        }
        #expect(link(workspace.source + "/file-2", workspace.source + "/file-2-again") == 0)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // A limit of 300 open files keeps 11 waiting instead of 64.
        for (named, openFiles) in [(false, "inherited"), (true, "inherited"), (false, "300")] {
            let target = workspace.directory.subpath("restore-\(named)-\(openFiles)")
            var environment = workspace.environment
            if named { environment["CAIRN_RESTORE_NAMED_TEMPORARIES"] = "1" }
            let restore = try workspace.cairn.run(
                ["restore", "files", "--to", target], in: workspace.directory.path, environment: environment,
                prefix: openFiles == "inherited" ? [] : ["/bin/sh", "-c", "ulimit -n \(openFiles) && exec \"$@\"", "sh"])
            #expect(restore.status == 0, "\(restore.all)")
            // Before the comparison, which reads them.
            let cached = names.map { residentPages(of: workspace.restored(under: target) + "/" + $0)?.filter { $0 }.count ?? -1 }
            #expect(cached.allSatisfy { $0 == 0 }, "pages left in the cache: \(cached)")
            let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
            #expect(differences == [], "\(differences.joined(separator: "\n"))")
        }
    }

    @Test func noPermissionsAndFollowSymlinks() throws {
        let workspace = try Workspace(extra: "    follow-symlinks: true\n")
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("target".utf8).write(to: URL(fileURLWithPath: workspace.directory.subpath("outside.txt")))
        symlink(workspace.directory.subpath("outside.txt"), workspace.source + "/link")
        try Data("private".utf8).write(to: URL(fileURLWithPath: workspace.source + "/private"))
        chmod(workspace.source + "/private", 0o600)
        #expect(try workspace.run(["backup", "-q"]).status == 0)

        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target, "--no-permissions"]).status == 0)
        var info = stat()
        #expect(lstat(workspace.restored(under: target) + "/link", &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFREG, "with follow-symlinks the link's target is backed up")
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/link", encoding: .utf8) == "target")
        #expect(lstat(workspace.restored(under: target) + "/private", &info) == 0)
        let mask = umask(0o022)
        umask(mask)
        #expect(info.st_mode & 0o777 == 0o666 & ~mask, "without permissions a file gets the umask's default mode")
        var original = stat()
        #expect(lstat(workspace.source + "/private", &original) == 0)
        #expect(info.st_mtim.tv_sec == original.st_mtim.tv_sec && info.st_mtim.tv_nsec == original.st_mtim.tv_nsec, "times are always restored")
    }

    @Test func onlyNewAndChangedFilesAreReadAgain() throws {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 7)
        try generator.generate(files: 20)
        #expect(try workspace.run(["backup"]).status == 0)

        let unchanged = try workspace.run(["plan"])
        #expect(unchanged.standardOutput == "No changes.\n", "\(unchanged.all)")

        try Data("changed".utf8).write(to: URL(fileURLWithPath: workspace.source + "/deep/file-new.txt"))
        try FileManager.default.removeItem(atPath: workspace.source + "/empty-hardlink")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: workspace.source + "/linked.txt"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("more\n".utf8))
        try handle.close()

        let plan = try workspace.run(["plan", "--detailed-exitcode"])
        #expect(plan.status == 2)
        let lines = plan.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains("+ \(workspace.source)/deep/file-new.txt (7 B)"))
        #expect(lines.contains("~ \(workspace.source)/linked.txt (25 B)"))
        #expect(lines.contains("- \(workspace.source)/empty-hardlink"))
        #expect(lines.contains("~ \(workspace.source)/deep/linked-again.txt (25 B)"))
        // Removing one name of "empty" changes its link count, so its ctime: it is read again too
        // (a metadata change); the folders that gained and lost a file changed too.
        #expect(lines.contains { $0.hasPrefix("~ \(workspace.source)/empty: links 2 -> 1") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("~ \(workspace.source)/deep: links") || $0.hasPrefix("~ \(workspace.source)/deep: modified") }, "\(lines)")
        #expect(lines.last?.hasPrefix("Plan: 1 new, 5 changed, 1 removed; about ") == true && lines.last?.hasSuffix(" to upload (57 B to read).") == true, "\(lines)")

        let sampled = try workspace.run(["verify", "files", "--read-data=50%"])
        #expect(sampled.status == 0 && sampled.standardOutput.contains("packs ("), "\(sampled.all)")
        // With a space, as other options take their values; alone, all of it.
        let spaced = try workspace.run(["verify", "files", "--read-data", "50%"])
        #expect(spaced.status == 0 && spaced.standardOutput.contains("packs ("), "\(spaced.all)")
        let whole = try workspace.run(["verify", "--read-data", "files"])
        #expect(whole.status == 0 && whole.standardOutput.contains("packs ("), "\(whole.all)")

        let second = try workspace.run(["backup"])
        #expect(second.status == 0)
        #expect(second.standardOutput.contains(" files, 32 B;"), "hard links are read once: \(second.all)")
    }

    /// The upload estimate reads samples of the files to compare: made for a plan someone sees
    /// (and kept in its job report), left out of a quiet run's.
    @Test func onlyAShownPlanIsGivenAnUploadEstimate() throws {
        let workspace = try Workspace()
        try workspace.directory.write("source/a.txt", String(repeating: "some text to compress ", count: 400))
        try workspace.directory.write("source/b.txt", String(repeating: "other text ", count: 300))
        func planSummaries() throws -> [[String: Any]] {
            let log = try workspace.run(["log", "files", "--json"])
            #expect(try Workspace.validate(log.standardOutput, against: "schemas/job-report.schema.json").hasPrefix("valid"))
            let reports = try #require(try JSONSerialization.jsonObject(with: Data(log.standardOutput.utf8)) as? [[String: Any]], "\(log.all)")
            return reports.compactMap { $0["plan"] as? [String: Any] }
        }
        // --json is quiet too: the plan is not printed.
        let quiet = try workspace.run(["backup", "--json"])
        #expect(quiet.status == 0, "\(quiet.all)")
        #expect(!quiet.all.contains("to upload"), "\(quiet.all)")
        let unestimated = try #require(try planSummaries().first, "a report")
        #expect(unestimated["newFiles"] as? Int == 2 && unestimated["uploadEstimate"] == nil, "\(unestimated)")

        try workspace.directory.write("source/c.txt", String(repeating: "a third file ", count: 500))
        let shown = try workspace.run(["backup"])
        #expect(shown.status == 0, "\(shown.all)")
        #expect(shown.standardOutput.contains("Plan: 1 new, ") && shown.standardOutput.contains(" to upload (6.5 kB to read)."), "\(shown.all)")
        let estimated = try #require(try planSummaries().first { $0["newFiles"] as? Int == 1 }, "the second report")
        let estimate = try #require(estimated["uploadEstimate"] as? Int, "\(estimated)")
        // 6.5 kB of repeated words: compressed, far less than read, but more than nothing.
        #expect(estimate > 0 && estimate < 6_500, "\(estimate)")
    }

    /// A quiet run counts its plan beside the backup: the job report's counts are those of the
    /// plan made before it, removed folders' contents, changes and new files included.
    @Test func aQuietRunReportsThePlansCounts() throws {
        let workspace = try Workspace()
        for index in 0..<6 { try workspace.directory.write("source/keep/\(index).txt", "kept \(index)") }
        for index in 0..<4 { try workspace.directory.write("source/gone/inner/\(index).txt", "to go \(index)") }
        try workspace.directory.write("source/edit.txt", "before")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.removeItem(atPath: workspace.source + "/gone")
        try workspace.directory.write("source/edit.txt", "after the edit")
        try workspace.directory.write("source/new/a.txt", String(repeating: "new ", count: 100))
        try workspace.directory.write("source/new/b.txt", "new b")

        let planned = try workspace.run(["plan", "--json"])
        #expect(planned.status == 0, "\(planned.all)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(planned.standardOutput.utf8)) as? [String: Any])
        let summary = try #require(((document["plans"] as? [[String: Any]])?.first)?["summary"] as? [String: Any], "\(planned.all)")
        let quiet = try workspace.run(["backup", "-q"])
        #expect(quiet.status == 0 && quiet.standardOutput.isEmpty, "\(quiet.all)")
        let log = try workspace.run(["log", "files", "--json"])
        #expect(try Workspace.validate(log.standardOutput, against: "schemas/job-report.schema.json").hasPrefix("valid"))
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(log.standardOutput.utf8)) as? [[String: Any]], "\(log.all)")
        let counted = try #require(reports.compactMap { $0["plan"] as? [String: Any] }.first { ($0["removed"] as? Int ?? 0) > 0 }, "\(log.all)")
        for (report, plan) in [
            ("newFiles", "new_files"), ("changedFiles", "changed_files"), ("newEntries", "new_entries"), ("changedEntries", "changed_entries"),
            ("removed", "removed"), ("unchangedFiles", "unchanged_files"), ("bytesToRead", "bytes_to_read"), ("uploadMaximum", "upload_maximum"),
        ] {
            #expect(counted[report] as? Int == summary[plan] as? Int, "\(report): \(counted[report] ?? "none") against the plan's \(summary[plan] ?? "none")")
        }
        // The folder gone and what was under it, the edit, and the new folder with its files.
        #expect(counted["removed"] as? Int == 6 && counted["changedFiles"] as? Int == 1 && counted["newFiles"] as? Int == 2, "\(counted)")
        #expect(counted["uploadEstimate"] == nil, "\(counted)")
    }

    @Test func restoreSkipsIdenticalFilesAndNeverOverwritesDifferingOnes() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("one".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        try Data("two".utf8).write(to: URL(fileURLWithPath: workspace.source + "/b.txt"))
        #expect(try workspace.run(["backup"]).status == 0)

        // In the original place: a.txt is identical, b.txt now differs.
        try Data("local edit".utf8).write(to: URL(fileURLWithPath: workspace.source + "/b.txt"))
        let dryRun = try workspace.run(["restore", "files", "--dry-run", "-v"])
        #expect(dryRun.status == 1)
        #expect(dryRun.standardOutput.contains("identical \(workspace.source)/a.txt"))
        // Without -v, identical files are counted, not listed; with -q, only the conflict shows.
        let plain = try workspace.run(["restore", "files", "--dry-run"])
        #expect(!plain.standardOutput.contains("identical \(workspace.source)/a.txt") && plain.standardOutput.contains(", identical 1, "), "\(plain.all)")
        let quiet = try workspace.run(["restore", "files", "--dry-run", "-q"])
        #expect(quiet.status == 1 && quiet.standardOutput.isEmpty, "\(quiet.all)")
        #expect(quiet.standardError.contains("conflict \(workspace.source)/b.txt: exists and differs"), "\(quiet.all)")
        #expect(dryRun.standardOutput.contains("conflict \(workspace.source)/b.txt: exists and differs"))
        let refused = try workspace.run(["restore", "files"])
        #expect(refused.status == 1)
        #expect(try String(contentsOfFile: workspace.source + "/b.txt", encoding: .utf8) == "local edit")

        let globbed = try workspace.run(["restore", "files", "--to", workspace.directory.subpath("glob"), "\(workspace.source)/a*"])
        #expect(globbed.status == 0)
        #expect(FileManager.default.fileExists(atPath: workspace.restored(under: workspace.directory.subpath("glob")) + "/a.txt"))
        #expect(!FileManager.default.fileExists(atPath: workspace.restored(under: workspace.directory.subpath("glob")) + "/b.txt"))

        let forced = try workspace.run(["restore", "files", "--overwrite", "if-changed", "\(workspace.source)/b.txt"])
        #expect(forced.status == 0, "\(forced.all)")
        #expect(try String(contentsOfFile: workspace.source + "/b.txt", encoding: .utf8) == "two")
        #expect(!forced.standardOutput.contains("a.txt"), "only the named path is restored")
    }

    @Test func restoreChoosesSnapshotsByTimeAndId() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/v.txt"))
        #expect(try workspace.run(["backup"]).status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        let between = Date()
        Thread.sleep(forTimeInterval: 1.1)
        try Data("second".utf8).write(to: URL(fileURLWithPath: workspace.source + "/v.txt"))
        #expect(try workspace.run(["backup"]).status == 0)

        let formatter = ISO8601DateFormatter()
        let target = workspace.directory.subpath("old")
        let old = try workspace.run(["restore", "files", "--at", formatter.string(from: between), "--to", target])
        #expect(old.status == 0, "\(old.all)")
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/v.txt", encoding: .utf8) == "first")

        let json = try workspace.run(["snapshots", "files", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        let latest = try #require(rows.last?["id"] as? String)
        let byID = try workspace.run(["restore", "files", "--snapshot", String(latest.prefix(10)), "--to", workspace.directory.subpath("new")])
        #expect(byID.status == 0)
        #expect(try String(contentsOfFile: workspace.restored(under: workspace.directory.subpath("new")) + "/v.txt", encoding: .utf8) == "second")

        let versions = try workspace.run(["ls", "files", "--all-versions", workspace.source + "/v.txt"])
        #expect(versions.standardOutput.split(separator: "\n").count == 2, "\(versions.all)")
    }

    @Test func aWrongKeyChangesNothing() throws {
        var workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: workspace.source + "/x"))
        #expect(try workspace.run(["backup"]).status == 0)
        let before = try FileManager.default.subpathsOfDirectory(atPath: workspace.destination).sorted()
        workspace.environment["CAIRN_KEY"] = "wrong"
        let refused = try workspace.run(["backup"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("the key does not open the repository"))
        #expect(try FileManager.default.subpathsOfDirectory(atPath: workspace.destination).sorted() == before)
    }

    @Test func aMissingDestinationIsAClearError() throws {
        let workspace = try Workspace()
        try FileManager.default.removeItem(atPath: workspace.destination)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        let output = try workspace.run(["backup"])
        #expect(output.status == 1)
        #expect(output.standardError.contains("does not exist or is not a folder (is its disk mounted?)"))
    }

    @Test func unreadableFilesAreReportedWithExitStatus3() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: workspace.source + "/locked"))
        try Data("public".utf8).write(to: URL(fileURLWithPath: workspace.source + "/open"))
        chmod(workspace.source + "/locked", 0)
        // Root reads everything: run cairn as nobody then, in a workspace nobody can use.
        var prefix: [String] = []
        if getuid() == 0 {
            prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            chmod(workspace.directory.path, 0o755)
            chmod(workspace.source, 0o755)
            chmod(workspace.source + "/open", 0o644)
            chmod(workspace.destination, 0o777)
        }
        let output = try workspace.cairn.run(["backup"], in: workspace.directory.path, environment: workspace.environment, prefix: prefix)
        #expect(output.status == 3, "\(output.all)")
        #expect(output.standardError.contains("locked: cannot be read: Permission denied"))
        #expect(output.standardOutput.contains("1 problem"))
        let listing = try workspace.cairn.run(["ls", "files"], in: workspace.directory.path, environment: workspace.environment, prefix: prefix)
        #expect(listing.standardOutput.contains("/open") && !listing.standardOutput.contains("/locked"), "\(listing.all)")
    }
}

@Suite("Filters on real files")
struct FilterBackupTests {
    @Test func filtersAndDeselectedFoldersDecideWhatIsStored() throws {
        let workspace = try Workspace(extra: """
                exclude: [./source/tmp]
                filters: [keep-docs, no-logs, no-images]
            filters:
              keep-docs: {top: ./source, match: ends-with, patterns: ["*.doc"], mode: include, others: keep}
              no-logs: {top: ./source, apply-to: [directories], match: regex, patterns: ["^log$"], mode: exclude, others: keep}
              no-images: {top: ./source, match: ends-with, patterns: ["*.jpg"], mode: exclude, others: keep}
            """)
        for folder in ["tmp", "app/log", "app/bin"] {
            try FileManager.default.createDirectory(atPath: workspace.source + "/" + folder, withIntermediateDirectories: true)
        }
        for file in ["a.txt", "b.jpg", "c.doc", "tmp/d.doc", "tmp/e.txt", "app/log/f.txt", "app/log/g.doc", "app/bin/h.txt"] {
            try Data(file.utf8).write(to: URL(fileURLWithPath: workspace.source + "/" + file))
        }
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        let listing = try workspace.run(["ls", "files", workspace.source])
        let stored = listing.standardOutput.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
            .filter { $0.hasPrefix(workspace.source + "/") }.map { String($0.dropFirst(workspace.source.count + 1)) }
        // g.doc under the excluded log folder: keep-docs decides first, but the folder itself is
        // excluded by no-logs, and excluding a folder excludes everything under it.
        #expect(stored.sorted() == ["a.txt", "app", "app/bin", "app/bin/h.txt", "c.doc", "tmp", "tmp/d.doc"], "\(listing.all)")
    }

    /// ls shows each kind with the letter ls -l uses and a link's target after ->.
    @Test func lsShowsEachKindsLetterAndLinkTargets() throws {
        let workspace = try Workspace()
        let source = workspace.source
        try FileManager.default.createDirectory(atPath: source + "/folder", withIntermediateDirectories: true)
        try Data("text".utf8).write(to: URL(fileURLWithPath: source + "/file.txt"))
        #expect(symlink("folder/../file.txt", source + "/link") == 0)
        #expect(mkfifo(source + "/pipe", 0o640) == 0)
        #expect(mknod(source + "/null", S_IFCHR | 0o600, (1 << 8) | 3) == 0, "CI runs as root")
        let socket = Process()
        socket.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        socket.arguments = ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", source + "/sock"]
        try socket.run()
        socket.waitUntilExit()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let listing = try workspace.run(["ls", "files", source])
        #expect(listing.status == 0, "\(listing.all)")
        let lines = listing.standardOutput.split(separator: "\n").map(String.init)
        func line(_ name: String) -> String? { lines.first { $0.hasSuffix(" \(source)/\(name)") || $0.contains(" \(source)/\(name) -> ") } }
        #expect(line("file.txt")?.hasPrefix("-0") == true, "\(lines)")
        #expect(line("folder")?.hasPrefix("d0") == true, "\(lines)")
        #expect(line("link")?.hasPrefix("l0777") == true && line("link")?.hasSuffix(" \(source)/link -> folder/../file.txt") == true, "\(lines)")
        #expect(line("pipe")?.hasPrefix("p0640") == true, "\(lines)")
        #expect(line("sock")?.hasPrefix("s0") == true, "\(lines)")
        let device = line("null")
        #expect(device?.hasPrefix("c0600") == true && device?.contains(" 1,3 ") == true, "\(lines)")
    }
}
