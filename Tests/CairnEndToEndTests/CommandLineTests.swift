import CairnCore
import CairnTesting
import Foundation
import Testing

/// The command line as one tool (issue 22): times printed one way and read back by --at, every
/// --json document checked against its schema, and the commands restic and borg users reach
/// for (diff, find, stats, dump, forget, tag, completions).
@Suite("One consistent command line")
struct CommandLineTests {
    /// A workspace in a zone with an offset, with files to change between two backups.
    func workspace(set: String = "", extra: String = "") throws -> Workspace {
        // `set` continues the set's mapping (the template's last lines), `extra` is top-level.
        let workspace = try Workspace(extra: set + "timezone: Europe/Berlin\n" + extra)
        try FileManager.default.createDirectory(atPath: workspace.source + "/docs/old", withIntermediateDirectories: true)
        try Data("first version\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/notes.txt"))
        try Data("stays\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/same.txt"))
        try Data("going\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/old/gone.txt"))
        try Data("mode\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/script.sh"))
        return workspace
    }

    /// The second version of the tree: a file changed, one new, a folder removed, a mode changed,
    /// a link made.
    func change(_ workspace: Workspace) throws {
        try Data("second version, longer\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/notes.txt"))
        try Data("new\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/added.txt"))
        try FileManager.default.removeItem(atPath: workspace.source + "/docs/old")
        #expect(chmod(workspace.source + "/docs/script.sh", 0o755) == 0)
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/docs/link", withDestinationPath: "notes.txt")
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func snapshotIDs(_ workspace: Workspace) throws -> [String] {
        let rows = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]])
        return rows.compactMap { $0["id"] as? String }
    }

    @Test func everyTimeCairnPrintsIsReadBackByAt() throws {
        let workspace = try workspace()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // Printed times end at the second: two snapshots of one second are one time.
        Thread.sleep(forTimeInterval: 1.1)
        try change(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let ids = try snapshotIDs(workspace)
        #expect(ids.count == 2)

        // Local time with the zone's offset, or UTC with --utc; seconds, one style everywhere.
        let local = try workspace.run(["snapshots", "files"])
        let utc = try workspace.run(["snapshots", "files", "--utc"])
        let localTime = try Regex(#"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d"#, as: Substring.self)
        let utcTime = try Regex(#"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"#, as: Substring.self)
        let rfc3339 = try Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"#, as: Substring.self)
        func times(_ text: String, _ pattern: Regex<Substring>) -> [String] { text.matches(of: pattern).map { String(text[$0.range]) } }
        #expect(times(local.standardOutput, localTime).count == 2, "\(local.all)")
        #expect(times(local.standardOutput, localTime).allSatisfy { $0.hasSuffix("+01:00") }, "Berlin in winter: \(local.all)")
        #expect(times(utc.standardOutput, utcTime).count == 2, "\(utc.all)")
        let printed = [
            try workspace.run(["snapshots", "files"]), try workspace.run(["snapshots", "files", "--utc"]), try workspace.run(["ls", "files"]),
            try workspace.run(["ls", "files", "--utc"]), try workspace.run(["log", "files"]), try workspace.run(["stats", "files"]),
            try workspace.run(["diff", "files"]), try workspace.run(["find", "files", "notes.txt"]), try workspace.run(["key", "list", "files"]),
        ]
        var every: [String] = []
        for output in printed {
            #expect(output.status == 0, "\(output.all)")
            every += times(output.all, localTime) + times(output.all, utcTime)
        }
        let jsonTimes = times(try workspace.run(["snapshots", "files", "--json"]).standardOutput, rfc3339)
        #expect(jsonTimes.count >= 4, "start and end of two snapshots, in UTC with nanoseconds")
        every += jsonTimes
        // Each snapshot's own start, in every form, chooses that snapshot.
        let starts = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]])
        for (index, row) in starts.enumerated() {
            let start = try #require((row["snapshot"] as? [String: Any])?["start"] as? String)
            let forms = [start] + [times(local.standardOutput, localTime)[index], times(utc.standardOutput, utcTime)[index]]
            for form in forms {
                let chosen = try workspace.run(["restore", "files", "--dry-run", "--at", form, "--to", workspace.directory.subpath("nowhere")])
                #expect(chosen.status == 0 && chosen.standardOutput.contains("restoring snapshot \(ids[index].prefix(8))"), "--at \(form): \(chosen.all)")
            }
        }
        // Every other time printed is a time --at takes (a file's time may be before any snapshot).
        for time in Set(every) {
            let listed = try workspace.run(["ls", "files", "--at", time])
            #expect(!listed.standardError.contains("is not a time"), "\(time): \(listed.all)")
            #expect(listed.status == 0 || listed.standardError.contains("has no snapshot at or before"), "\(time): \(listed.all)")
        }
        // Date-only and minute forms, and an error that prints the time as cairn prints times.
        #expect(try workspace.run(["ls", "files", "--at", "2999-01-01"]).status == 0)
        let before = try workspace.run(["ls", "files", "--at", "2001-02-03 04:05"])
        #expect(before.status == 1 && before.standardError.contains("has no snapshot at or before 2001-02-03 04:05:59 +01:00"), "\(before.all)")
    }

    @Test func everyJSONDocumentMatchesItsSchema() throws {
        let workspace = try workspace(
            set: "    retention: three\n    schedules: [night]\n",
            extra: "retention: {three: {keep-jobs: 3, keep-tags: [keep]}}\nschedules: {night: {type: daily, at: \"02:30\"}}\n")
        func valid(_ arguments: [String], _ schema: String, status: Int32 = 0) throws -> Any {
            let output = try workspace.run(arguments)
            #expect(output.status == status, "\(arguments): \(output.all)")
            let verdict = try Workspace.validate(output.standardOutput, against: "schemas/\(schema).schema.json")
            #expect(verdict.hasPrefix("valid"), "\(arguments): \(verdict)\n\(output.standardOutput)")
            return try json(output.standardOutput)
        }
        let backups = try #require(try valid(["backup", "--json"], "job-report") as? [[String: Any]])
        #expect(backups.count == 1 && backups[0]["status"] as? String == "complete" && (backups[0]["start"] as? String)?.hasSuffix("Z") == true)
        try change(workspace)
        _ = try valid(["apply", "--yes", "--json"], "job-report")
        _ = try valid(["log", "files", "--json"], "job-report")
        _ = try valid(["snapshots", "files", "--json"], "snapshots")
        _ = try valid(["ls", "files", "--json"], "ls")
        _ = try valid(["verify", "files", "--json", "--read-data"], "verify")
        let restored = try #require(try valid(["restore", "files", "--json", "--to", workspace.directory.subpath("r")], "restore") as? [String: Any])
        #expect((restored["written"] as? Int ?? 0) >= 5, "\(restored)")
        _ = try valid(["key", "list", "files", "--json"], "key-list")
        _ = try valid(["prune", "files", "--dry-run", "--json"], "prune")
        _ = try valid(["retention", "preview", "three", "--from", "2026-01-01", "--to", "2026-01-10", "--json"], "retention-preview")
        _ = try valid(["plan", "--json"], "plan")
        _ = try valid(["validate", "--json"], "validate")
        _ = try valid(["schedule", "show", "--json"], "schedule")
        let diff = try #require(try valid(["diff", "files", "--json"], "diff") as? [String: Any])
        #expect(diff["new"] as? Int == 2 && diff["removed"] as? Int == 2, "added.txt and link new, old/ and gone.txt removed: \(diff)")
        _ = try valid(["find", "files", "*.txt", "--json"], "find")
        _ = try valid(["stats", "files", "--json"], "stats")
        let ids = try snapshotIDs(workspace)
        _ = try valid(["forget", "files", ids[0], "--dry-run", "--json"], "prune")
    }

    @Test func diffShowsWhatChangedAsThePlanDoes() throws {
        let workspace = try workspace()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try change(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let diff = try workspace.run(["diff", "files"])
        #expect(diff.status == 0, "\(diff.all)")
        let docs = workspace.source + "/docs"
        let lines = diff.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("from snapshot ") == true, "\(diff.all)")
        let notes: String = lines.first { $0.contains("notes.txt (23 B)") } ?? ""
        let modified: String = notes.components(separatedBy: ", ").last ?? "?"
        let expected: [String] = [
            "+ \(docs)/added.txt (4 B)",
            "+ \(docs)/link -> notes.txt",
            "~ \(docs)/notes.txt (23 B): size 14 B → 23 B, " + modified,
            "- \(docs)/old/",
            "- \(docs)/old/gone.txt",
            "~ \(docs)/script.sh (5 B): mode 0644 → 0755",
        ]
        let shown: [String] = Array(lines.dropFirst().dropLast())
        #expect(shown == expected, "\(diff.all)")
        #expect(modified.hasPrefix("modified 20") && modified.hasSuffix(" +01:00"), "\(diff.all)")
        #expect(lines.last == "2 new, 2 changed, 2 removed (32 B in new and changed files)", "\(diff.all)")
        let ids = try snapshotIDs(workspace)
        // Reversed, and limited to a path.
        let back = try workspace.run(["diff", "files", ids[1], ids[0], "--path", docs + "/old"])
        #expect(back.standardOutput.contains("+ \(docs)/old/gone.txt (6 B)") && !back.standardOutput.contains("notes.txt"), "\(back.all)")
        let same = try workspace.run(["diff", "files", ids[1], "latest"])
        #expect(same.status == 0 && same.standardOutput.hasSuffix("no changes\n"), "\(same.all)")
        let one = try Workspace()
        try FileManager.default.createDirectory(atPath: one.source, withIntermediateDirectories: true)
        #expect(try one.run(["backup", "-q"]).status == 0)
        let alone = try one.run(["diff", "files"])
        #expect(alone.status == 1 && alone.standardError.contains("has one snapshot: a diff needs two"), "\(alone.all)")
        let wrong = try workspace.run(["diff", "files", "soon"])
        #expect(wrong.status == 1 && wrong.standardError.contains("'soon' names no snapshot"), "\(wrong.all)")
    }

    @Test func findListsEachVersionWithTheSnapshotsThatHoldIt() throws {
        let workspace = try workspace()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try change(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let ids = try snapshotIDs(workspace)
        let found = try #require(try json(try workspace.run(["find", "files", "NOTES.TXT", "-i", "--json"]).standardOutput) as? [[String: Any]])
        #expect(found.count == 1 && found[0]["path"] as? String == workspace.source + "/docs/notes.txt", "\(found)")
        let versions = try #require(found[0]["versions"] as? [[String: Any]])
        #expect(versions.map { $0["size"] as? Int } == [14, 23], "\(versions)")
        #expect(versions.map { ($0["snapshots"] as? [[String: Any]])?.compactMap { $0["id"] as? String } } == [[ids[0], ids[1]], [ids[2]]])
        let text = try workspace.run(["find", "files", workspace.source + "/docs/*.txt"])
        #expect(text.status == 0 && text.standardOutput.contains("in 2 snapshots") && text.standardOutput.hasSuffix("3 paths, 4 versions, in 3 snapshots\n"), "\(text.all)")
        // A * stays within one folder; ** crosses them.
        #expect(!text.standardOutput.contains("gone.txt"), "\(text.all)")
        let crossing = try workspace.run(["find", "files", workspace.source + "/**/gone.txt"])
        #expect(crossing.standardOutput.contains("/docs/old/gone.txt"), "\(crossing.all)")
        let none = try workspace.run(["find", "files", "nothing*"])
        #expect(none.status == 0 && none.standardOutput.contains("no path of set 'files' matches nothing*"), "\(none.all)")
    }

    @Test func dumpWritesOneFileAsItWasAndRefusesWhatIsNotOne() throws {
        let workspace = try workspace()
        var generator = TreeGenerator(root: workspace.source + "/generated", seed: 7)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let first = try workspace.run(["snapshots", "files", "--json"])
        try change(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let now = try workspace.run(["dump", "files", workspace.source + "/docs/notes.txt"])
        #expect(now.status == 0 && now.standardOutput == "second version, longer\n", "\(now.all)")
        let id = try #require((try json(first.standardOutput) as? [[String: Any]])?.first?["id"] as? String)
        let then = try workspace.run(["dump", "files", workspace.source + "/docs/notes.txt", "--snapshot", String(id.prefix(6))])
        #expect(then.standardOutput == "first version\n", "\(then.all)")
        // Through a link, and every generated file byte for byte.
        #expect(try workspace.run(["dump", "files", workspace.source + "/docs/link"]).standardOutput == "second version, longer\n")
        for path in try FileManager.default.subpathsOfDirectory(atPath: workspace.source + "/generated") {
            let full = workspace.source + "/generated/" + path
            var info = stat()
            guard lstat(full, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            let out = workspace.directory.subpath("dumped")
            let dumped = try workspace.cairn.run(
                ["dump", "files", full], in: workspace.directory.path, environment: workspace.environment,
                prefix: ["/bin/sh", "-c", "exec \"$0\" \"$@\" > '\(out)'"])
            #expect(dumped.status == 0 && FileManager.default.contents(atPath: out) == FileManager.default.contents(atPath: full), "\(path): \(dumped.all)")
        }
        let folder = try workspace.run(["dump", "files", workspace.source + "/docs"])
        #expect(folder.status == 1 && folder.standardError.contains("is a directory, not a file"), "\(folder.all)")
        let missing = try workspace.run(["dump", "files", workspace.source + "/docs/old/gone.txt"])
        #expect(missing.status == 1 && missing.standardError.contains("is not in snapshot"), "\(missing.all)")
    }

    @Test func forgetExpiresExactlyTheNamedSnapshotsAndTheirData() throws {
        let workspace = try workspace()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try Data((0..<300_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/docs/big.bin"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.removeItem(atPath: workspace.source + "/docs/big.bin")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let ids = try snapshotIDs(workspace)
        let dry = try workspace.run(["forget", "files", String(ids[1].prefix(8)), "--dry-run"])
        #expect(dry.status == 0 && dry.standardOutput.contains("would expire snapshot \(ids[1].prefix(8))"), "\(dry.all)")
        #expect(try snapshotIDs(workspace) == ids, "a dry run changes nothing")
        let unknown = try workspace.run(["forget", "files", "ffff", String(ids[1].prefix(8))])
        #expect(unknown.status == 1 && unknown.standardError.contains("has no snapshot ffff"), "\(unknown.all)")
        #expect(try snapshotIDs(workspace) == ids, "one wrong id: nothing is forgotten")
        let forgot = try workspace.run(["forget", "files", String(ids[1].prefix(8))])
        #expect(forgot.status == 0 && forgot.standardOutput.contains("expired snapshot \(ids[1].prefix(8))"), "\(forgot.all)")
        #expect(try snapshotIDs(workspace) == [ids[0], ids[2]])
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--snapshot", String(ids[2].prefix(8)), "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, target + workspace.source) == [])
        let oldest = try workspace.run(["dump", "files", workspace.source + "/docs/old/gone.txt", "--snapshot", String(ids[0].prefix(8))])
        #expect(oldest.standardOutput == "going\n", "\(oldest.all)")
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0 && verify.standardOutput.contains("2 snapshots"), "\(verify.all)")
        // The big file only the forgotten snapshot held is deleted with it.
        let stats = try #require(try json(try workspace.run(["stats", "files", "--json"]).standardOutput) as? [String: Any])
        #expect(((stats["repository"] as? [String: Any])?["storedBytes"] as? Int ?? .max) < 100_000, "\(stats)")
    }

    @Test func tagsShowInSnapshotsAndKeepTagsKeepsThem() throws {
        let workspace = try workspace(set: "    retention: one\n", extra: "retention: {one: {keep-jobs: 1, keep-tags: [keep]}}\n")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let first = try #require(try snapshotIDs(workspace).first)
        let tagged = try workspace.run(["tag", "files", String(first.prefix(8)), "--add", "keep", "--add", "release"])
        #expect(tagged.status == 0 && tagged.standardOutput.contains("tags keep, release"), "\(tagged.all)")
        let retagged = try #require(try snapshotIDs(workspace).first)
        #expect(retagged != first, "a retagged snapshot has a new id")
        #expect(try workspace.run(["snapshots", "files"]).standardOutput.contains("[keep, release]"))
        let removed = try workspace.run(["tag", "files", String(retagged.prefix(8)), "--remove", "release"])
        #expect(removed.status == 0 && removed.standardOutput.contains("tags keep"), "\(removed.all)")
        let kept = try #require(try snapshotIDs(workspace).first)
        try change(workspace)
        for _ in 0..<2 { #expect(try workspace.run(["backup", "-q"]).status == 0) }
        // keep-jobs 1 keeps the latest; keep-tags keeps the tagged first one too.
        let ids = try snapshotIDs(workspace)
        #expect(ids.count == 2 && ids[0] == kept, "\(ids)")
        let preview = try workspace.run(["prune", "files", "--dry-run"])
        #expect(preview.status == 0, "\(preview.all)")
        let why = try #require(try json(try workspace.run(["prune", "files", "--dry-run", "--json"]).standardOutput) as? [String: Any])
        let verdicts = try #require(why["snapshots"] as? [[String: Any]])
        #expect((verdicts.first?["reasons"] as? [String])?.contains("tagged keep (keep-tags)") == true, "\(verdicts)")
        let invalid = try workspace.run(["tag", "files", String(kept.prefix(8)), "--add", "two words"])
        #expect(invalid.status == 64 && invalid.standardError.contains("is not a tag"), "\(invalid.all)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--snapshot", String(kept.prefix(8)), "--to", target, "-q"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: target + workspace.source + "/docs/old/gone.txt"), "the tagged snapshot restores")
    }

    @Test func completionScriptsLoadInBash() throws {
        let workspace = try Workspace()
        for shell in ["bash", "zsh", "fish"] {
            let script = try workspace.run(["completions", shell])
            #expect(script.status == 0 && script.standardOutput.count > 1000, "\(shell): \(script.all)")
        }
        let bash = try workspace.directory.write("cairn.bash", try workspace.run(["completions", "bash"]).standardOutput)
        func bashRun(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let syntax = try bashRun(["-n", bash])
        #expect(syntax.status == 0, "\(syntax.output)")
        let loaded = try bashRun(["-c", "source '\(bash)' && complete -p cairn"])
        #expect(loaded.status == 0 && loaded.output.contains("complete") && loaded.output.hasSuffix("cairn\n"), "\(loaded.output)")
        let unknown = try workspace.run(["completions", "tcsh"])
        #expect(unknown.status == 64 && unknown.standardError.contains("bash, zsh or fish"), "\(unknown.all)")
    }

    @Test func withoutASetCommandsActOnEverySetAndRestoreFindsTheSetOfAPath() throws {
        let workspace = try workspace(set: "  other:\n    account: local\n    sources: [./other]\n")
        let other = workspace.directory.subpath("other")
        try FileManager.default.createDirectory(atPath: other + "/sub", withIntermediateDirectories: true)
        try Data("other file\n".utf8).write(to: URL(fileURLWithPath: other + "/sub/o.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let snapshots = try workspace.run(["snapshots"])
        #expect(snapshots.status == 0 && snapshots.standardOutput.contains("backup set 'files':") && snapshots.standardOutput.contains("backup set 'other':"), "\(snapshots.all)")
        let rows = try #require(try json(try workspace.run(["snapshots", "--json"]).standardOutput) as? [[String: Any]])
        #expect(Set(rows.compactMap { ($0["snapshot"] as? [String: Any])?["set"] as? String }) == ["files", "other"], "\(rows)")
        for command in [["ls"], ["log"], ["verify"], ["prune", "--dry-run"], ["stats", "files"]] {
            let output = try workspace.run(command)
            #expect(output.status == 0, "\(command): \(output.all)")
        }
        let verified = try #require(try json(try workspace.run(["verify", "--json"]).standardOutput) as? [[String: Any]])
        #expect(verified.compactMap { $0["set"] as? String } == ["files", "other"], "\(verified)")
        #expect(try Workspace.validate(try workspace.run(["verify", "--json"]).standardOutput, against: "schemas/verify.schema.json").hasPrefix("valid"))
        #expect(try Workspace.validate(try workspace.run(["log", "--json"]).standardOutput, against: "schemas/job-report.schema.json").hasPrefix("valid"))
        // ls with a path lists the sets that back it up.
        let listed = try workspace.run(["ls", other + "/sub"])
        #expect(listed.standardOutput.contains("backup set 'other':") && !listed.standardOutput.contains("backup set 'files':"), "\(listed.all)")
        // Restore a path in place, without naming its set.
        try Data("changed\n".utf8).write(to: URL(fileURLWithPath: other + "/sub/o.txt"))
        let restored = try workspace.run(["restore", other + "/sub/o.txt", "--overwrite", "always"])
        #expect(restored.status == 0 && restored.standardOutput.contains("backup set 'other':"), "\(restored.all)")
        #expect(try String(contentsOfFile: other + "/sub/o.txt", encoding: .utf8) == "other file\n")
        let nowhere = try workspace.run(["restore", "/etc/hostname"])
        #expect(nowhere.status == 1 && nowhere.standardError.contains("no backup set of this host backs up /etc/hostname"), "\(nowhere.all)")
        let nothing = try workspace.run(["restore"])
        #expect(nothing.status == 64, "\(nothing.all)")
    }

    @Test func stripPlacesTheChosenPathAtTheTarget() throws {
        let workspace = try workspace()
        var generator = TreeGenerator(root: workspace.source + "/docs/tree", seed: 11)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let folder = workspace.directory.subpath("folder")
        let strip = try workspace.run(["restore", "files", workspace.source + "/docs/tree", "--to", folder, "--strip"])
        #expect(strip.status == 0, "\(strip.all)")
        #expect(TreeComparison.differences(workspace.source + "/docs/tree", folder).filter { !$0.hasPrefix(": ") } == [], "the folder's content, with its metadata")
        #expect(!FileManager.default.fileExists(atPath: folder + workspace.source), "no full path under the target")
        let single = workspace.directory.subpath("single")
        let file = try workspace.run(["restore", "files", workspace.source + "/docs/notes.txt", "--to", single, "--strip"])
        #expect(file.status == 0 && (try? String(contentsOfFile: single + "/notes.txt", encoding: .utf8)) == "first version\n", "\(file.all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: single) == ["notes.txt"])
        let two = try workspace.run(["restore", "files", workspace.source + "/docs/notes.txt", workspace.source + "/docs/same.txt", "--to", single, "--strip"])
        #expect(two.status == 64 && two.standardError.contains("exactly one PATH"), "\(two.all)")
        let noTarget = try workspace.run(["restore", "files", workspace.source + "/docs", "--strip"])
        #expect(noTarget.status == 64, "\(noTarget.all)")
        let missing = try workspace.run(["restore", "files", workspace.source + "/docs/nothing", "--to", single, "--strip"])
        #expect(missing.status == 1 && missing.standardError.contains("nothing"), "\(missing.all)")
    }

    @Test func quietPrintsNothingButErrors() throws {
        let workspace = try workspace(set: "    retention: three\n", extra: "retention: {three: {keep-jobs: 3}}\n")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try change(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let ids = try snapshotIDs(workspace)
        let commands: [[String]] = [
            ["validate"], ["plan"], ["snapshots"], ["ls", "files"], ["diff", "files"], ["find", "files", "*.txt"], ["stats", "files"],
            ["verify", "files", "--read-data"], ["prune", "files"], ["log", "files"], ["key", "list", "files"], ["repair", "files"],
            ["retention", "preview", "three", "--from", "2026-01-01", "--to", "2026-01-10"], ["schedule", "show"],
            ["tag", "files", String(ids[0].prefix(8)), "--add", "kept"], ["forget", "files", String(ids[1].prefix(8)), "--dry-run"],
            ["restore", "files", "--to", workspace.directory.subpath("r")], ["backup"], ["apply", "--yes"],
        ]
        for command in commands {
            let quiet = try workspace.run(command + ["-q"])
            #expect(quiet.status == 0 && quiet.standardOutput.isEmpty && quiet.standardError.isEmpty, "\(command): \(quiet.all)")
        }
        let failing = try workspace.run(["snapshots", "nosuchset", "-q"])
        #expect(failing.status == 1 && failing.standardOutput.isEmpty && failing.standardError.contains("nosuchset"), "\(failing.all)")
    }

    /// Found in review: a path two sets back up is refused without SET (their versions would
    /// be written over each other), -q still tells the damage verify finds, a retag after an
    /// interrupted one keeps one snapshot, a version that comes back is listed again, and a
    /// dump into a closed pipe ends quietly.
    @Test func whatReviewFoundStaysFixed() throws {
        let workspace = try workspace(set: "  outer:\n    account: local\n    sources: [./source/docs]\n")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let twice = try workspace.run(["restore", workspace.source + "/docs/notes.txt", "--overwrite", "always"])
        #expect(twice.status == 1 && twice.standardError.contains("is backed up by 2 sets (files, outer)"), "\(twice.all)")
        let glob = try workspace.run(["restore", "/*/notes.txt"])
        #expect(glob.status == 64, "\(glob.all)")

        // A retag killed after writing, then another retag: one snapshot, the last tags.
        let first = try #require(try snapshotIDs(workspace).first)
        var killed = workspace
        killed.environment["CAIRN_FAULT_INJECTION"] = "tag-written:1"
        let cut = try killed.run(["tag", "files", String(first.prefix(8)), "--add", "keep"])
        #expect(cut.status != 0, "\(cut.all)")
        let hidden = try snapshotIDs(workspace)
        #expect(hidden.count == 1 && hidden[0] != first, "the replaced snapshot is not listed: \(hidden)")
        #expect(try workspace.run(["tag", "files", String(hidden[0].prefix(8)), "--add", "release"]).status == 0)
        let after = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]])
        #expect(after.count == 1 && (after[0]["snapshot"] as? [String: Any])?["tags"] as? [String] == ["keep", "release"], "\(after)")
        let files = try FileManager.default.contentsOfDirectory(atPath: workspace.destination + "/files/snapshots")
        #expect(files.count == 1, "the interrupted retag's leftover is removed: \(files)")

        // A version, another, the first again: three versions in order.
        try Data("second\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/same.txt"))
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        try Data("stays\n".utf8).write(to: URL(fileURLWithPath: workspace.source + "/docs/same.txt"))
        let back = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]]).count
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        #expect(back == 2)
        let found = try #require(try json(try workspace.run(["find", "files", "same.txt", "--json"]).standardOutput) as? [[String: Any]])
        let versions = try #require(found.first?["versions"] as? [[String: Any]])
        #expect(versions.map { $0["size"] as? Int } == [6, 7, 6], "\(versions)")

        // A reader that stops early.
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: workspace.source + "/big.bin"))
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        let piped = try workspace.cairn.run(
            ["dump", "files", workspace.source + "/big.bin"], in: workspace.directory.path, environment: workspace.environment,
            prefix: ["/bin/bash", "-c", "set -o pipefail; \"$0\" \"$@\" | head -c 10 > /dev/null"])
        #expect(piped.status == 0, "\(piped.all)")
        // Damage found with -q is told on standard error.
        let packs = workspace.destination + "/files/data"
        let pack = try #require(FileManager.default.enumerator(atPath: packs)?.allObjects.compactMap { $0 as? String }.first { $0.contains("/") })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: packs + "/" + pack))
        try handle.seek(toOffset: 40)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: 40)
        try handle.write(contentsOf: Data([byte ^ 0xFF]))
        try handle.close()
        let verify = try workspace.run(["verify", "files", "--read-data", "-q"])
        #expect(verify.status == 1 && verify.standardOutput.isEmpty && verify.standardError.contains("damaged: "), "\(verify.all)")

    }

    /// A name that is not UTF-8 is shown with `\xNN` and typed back the same way (or with its
    /// bytes); a name that holds `\xFF` as text shows its backslash doubled: neither is taken
    /// for the other.
    @Test func namesThatAreNotUTF8AreTypedBackAsTheyAreShown() throws {
        let workspace = try workspace()
        let folder = workspace.source + "/odd"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let raw = Array((folder + "/bad").utf8) + [0xFF] + Array(".txt".utf8)
        let fd = raw.withUnsafeBufferPointer { buffer in
            (Array(buffer) + [0]).withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(fd >= 0)
        #expect(write(fd, "bytes\n", 6) == 6)
        close(fd)
        try Data("literal\n".utf8).write(to: URL(fileURLWithPath: folder + "/bad\\xFF.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let found = try workspace.run(["find", "files", "bad*"])
        #expect(found.standardOutput.contains(folder + "/bad\\xFF.txt\n") && found.standardOutput.contains(folder + "/bad\\\\xFF.txt\n"), "\(found.all)")
        let byBytes = try workspace.run(["dump", "files", folder + "/bad\\xFF.txt"])
        #expect(byBytes.standardOutput == "bytes\n", "\(byBytes.all)")
        let byText = try workspace.run(["dump", "files", folder + "/bad\\\\xFF.txt"])
        #expect(byText.standardOutput == "literal\n", "\(byText.all)")
        // The bytes themselves, as a shell passes them.
        let typed = try workspace.cairn.run(
            [], in: workspace.directory.path, environment: workspace.environment,
            prefix: ["/bin/bash", "-c", "exec \"$1\" dump files \"$0\"$'\\xff'.txt", folder + "/bad"])
        #expect(typed.standardOutput == "bytes\n", "\(typed.all)")
        let restored = workspace.directory.subpath("r")
        #expect(try workspace.run(["restore", "files", folder + "/bad\\xFF.txt", "--to", restored, "-q"]).status == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: restored + folder)
        #expect(names.count == 1, "only the file named: \(names)")
    }

    /// Long work shows its progress on a terminal, as backup does: restore, verify
    /// --read-data; not with -q.
    @Test func restoreAndVerifyShowProgressOnATerminal() throws {
        let workspace = try workspace()
        var generator = TreeGenerator(root: workspace.source + "/tree", seed: 5)
        try generator.generate()
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let restore = try workspace.onTerminal(["restore", "files", "--to", workspace.directory.subpath("r")], input: "")
        #expect(restore.contains("\r\u{1B}[K") && restore.contains(" files, ") && restore.contains("/s"), "\(restore)")
        let verify = try workspace.onTerminal(["verify", "files", "--read-data"], input: "")
        #expect(verify.contains(" packs, ") && verify.contains("no problems"), "\(verify)")
        let quiet = try workspace.onTerminal(["restore", "files", "--to", workspace.directory.subpath("q"), "-q"], input: "")
        #expect(!quiet.contains(" files, "), "\(quiet)")
    }
}
