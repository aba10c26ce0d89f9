import CairnCore
import CairnTesting
import Foundation
import Testing

/// Issue 15: no run, however it ends, makes a version that earlier runs kept harder or
/// impossible to get back. Each test is a scenario that lost versions before the fix.
@Suite("Never lose a version")
struct NeverLoseAVersionTests {
    func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The ids of the set's snapshots, oldest first, with their status.
    func snapshots(_ workspace: Workspace, _ set: String = "files") throws -> [(id: String, status: String)] {
        let output = try workspace.run(["snapshots", set, "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]], "\(output.all)")
        return rows.map { row in
            let snapshot = row["snapshot"] as? [String: Any]
            return (row["id"] as? String ?? "", snapshot?["status"] as? String ?? "")
        }
    }

    /// A job opens the repository, then takes its lease: a backup that ends in between (its
    /// snapshot listed by the job, its index file not yet read when the repository was opened)
    /// is seen whole once the lease is held. Restore, verify and prune each stop between the
    /// two while another backup runs to its end, then go on: the restore brings back that
    /// backup's version, verify checks its objects, and prune keeps it readable.
    @Test(arguments: ["restore", "verify", "prune"])
    func aBackupThatEndsBeforeAJobsLeaseIsSeenByTheJob(command: String) throws {
        let workspace = try Workspace()
        try write(workspace.source + "/notes.txt", "version 1")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let target = workspace.directory.subpath("restored")
        let arguments = command == "restore" ? ["restore", "files", "--to", target] : [command, "files"]
        var environment = workspace.environment
        environment["CAIRN_FAULT_INJECTION"] = "job-opened:1:STOP"
        let running = try workspace.cairn.start(arguments, in: workspace.directory.path, environment: environment)
        #expect(running.waitUntilStopped(), "the \(command) stops between opening the repository and taking its lease")
        try write(workspace.source + "/notes.txt", "version 2, longer")
        try write(workspace.source + "/new/added.txt", "added")
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        running.resume()
        let job = try running.wait()
        #expect(job.status == 0, "\(job.all)")
        switch command {
        case "restore":
            #expect(read(workspace.restored(under: target) + "/notes.txt") == "version 2, longer")
            #expect(read(workspace.restored(under: target) + "/new/added.txt") == "added")
        case "prune":
            // Nothing of the backup that ended meanwhile was taken for unused.
            let check = try workspace.run(["verify", "files", "--read-data"])
            #expect(check.status == 0, "\(check.all)")
            #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
            #expect(read(workspace.restored(under: target) + "/new/added.txt") == "added")
        default:
            #expect(!job.all.contains("missing"), "\(job.all)")
        }
    }

    @Test func aMissingSourceFailsItsSetNothingIsExpiredAndOtherSetsGoOn() throws {
        let workspace = try Workspace(extra: """
                retention: one
              other:
                account: local
                sources: [./other]
            retention: {one: {keep-jobs: 1}}
            """)
        try write(workspace.source + "/disk.img", "a disk image")
        try write(workspace.directory.subpath("other/note"), "note")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.moveItem(atPath: workspace.source, toPath: workspace.directory.subpath("unmounted"))

        let plan = try workspace.run(["plan"])
        #expect(plan.status == 1, "\(plan.all)")
        #expect(plan.standardError.contains("the source \(workspace.source) does not exist: is its disk mounted?"), "\(plan.all)")
        for _ in 0..<3 {
            let backup = try workspace.run(["backup", "-q"])
            #expect(backup.status == 1, "\(backup.all)")
            #expect(backup.standardError.contains("is its disk mounted?"))
        }
        #expect(try snapshots(workspace).count == 1, "nothing saved for the set whose source is missing")
        #expect(try snapshots(workspace, "other").count == 4, "the other set went on")
        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(read(workspace.restored(under: target) + "/disk.img") == "a disk image")
    }

    @Test func anAbsentOptionalSourceIsAWarningAndItsEntriesAreCarriedOver() throws {
        let workspace = try Workspace()
        let usb = workspace.directory.subpath("usb")
        try workspace.directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            retention: {one: {keep-jobs: 1}}
            backup-sets:
              files:
                account: local
                sources: [./source, {path: ./usb, optional: true}]
                retention: one
            """)
        try write(workspace.source + "/a", "a")
        try write(usb + "/photos/p1.jpg", "photo one")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try FileManager.default.moveItem(atPath: usb, toPath: workspace.directory.subpath("usb-away"))
        try write(workspace.source + "/b", "b")

        let plan = try workspace.run(["plan"])
        #expect(plan.status == 0, "\(plan.all)")
        #expect(plan.standardOutput.contains("warning: optional source \(usb) is absent"), "\(plan.all)")
        let backup = try workspace.run(["backup"])
        #expect(backup.status == 0, "\(backup.all)")
        #expect(backup.standardOutput.contains("optional source \(usb) is absent"))
        #expect(try snapshots(workspace).count == 1, "keep-jobs 1 expired the first snapshot")
        let listing = try workspace.run(["ls", "files", usb])
        #expect(listing.standardOutput.contains("\(usb)  (carried over: source absent)"), "\(listing.all)")
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(read(target + usb + "/photos/p1.jpg") == "photo one")
        #expect(read(target + workspace.source + "/b") == "b")
    }

    @Test func aSourceThatSuddenlyLooksEmptyStopsTheRunAtMaxRemoved() throws {
        let workspace = try Workspace()
        for index in 0..<30 { try write(workspace.source + "/docs/f\(index)", "file \(index)") }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // A mount point without its disk: the folder is there, and empty.
        try FileManager.default.removeItem(atPath: workspace.source + "/docs")

        let plan = try workspace.run(["plan"])
        #expect(plan.status == 1, "\(plan.all)")
        #expect(plan.standardOutput.contains("would record 30 of the previous snapshot's 30 files (100%) as removed, more than max-removed 50%"), "\(plan.all)")
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 1)
        #expect(backup.standardError.contains("--max-removed off"), "\(backup.all)")
        #expect(try snapshots(workspace).count == 1, "nothing was saved")
        #expect(try workspace.run(["backup", "-q", "--max-removed", "99%"]).status == 1, "100% is over 99%")
        #expect(try workspace.run(["backup", "-q", "--max-removed", "1000%"]).status == 64)
        let allowed = try workspace.run(["backup", "-q", "--max-removed", "off"])
        #expect(allowed.status == 0, "\(allowed.all)")
        #expect(try snapshots(workspace).count == 2)
    }

    @Test func maxRemovedFromTheConfigAndItsFloor() throws {
        let workspace = try Workspace(extra: "    max-removed: 10%\n")
        for index in 0..<25 { try write(workspace.source + "/f\(index)", "file \(index)") }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        for index in 0..<3 { try FileManager.default.removeItem(atPath: workspace.source + "/f\(index)") }
        let three = try workspace.run(["backup", "-q"])
        #expect(three.status == 1, "3 of 25 is over 10%: \(three.all)")
        #expect(three.standardError.contains("3 of the previous snapshot's 25 files (12%)"), "\(three.all)")

        // Twenty files or fewer: not checked.
        let small = try Workspace()
        for index in 0..<20 { try write(small.source + "/f\(index)", "file \(index)") }
        #expect(try small.run(["backup", "-q"]).status == 0)
        for index in 0..<20 { try FileManager.default.removeItem(atPath: small.source + "/f\(index)") }
        #expect(try small.run(["backup", "-q"]).status == 0)
    }

    @Test func aRepositoryThatHasGoneIsNotSilentlyStartedAgain() throws {
        let workspace = try Workspace()
        try write(workspace.source + "/a", "a")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // The destination is a mount point without its disk: the folder exists, empty.
        try FileManager.default.moveItem(atPath: workspace.destination, toPath: workspace.directory.subpath("disk"))
        try FileManager.default.createDirectory(atPath: workspace.destination, withIntermediateDirectories: true)

        for command in [["backup", "-q"], ["plan"], ["apply", "--yes", "-q"]] {
            let run = try workspace.run(command)
            #expect(run.status == 1, "\(command): \(run.all)")
            #expect(run.standardError.contains("there is no repository at \(workspace.destination)/files now: is the destination's disk mounted?"), "\(run.all)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).isEmpty, "nothing created")

        // The destination remembers too: a machine whose run state is gone still refuses.
        try FileManager.default.removeItem(atPath: workspace.directory.subpath("state"))
        try FileManager.default.removeItem(atPath: workspace.destination)
        try FileManager.default.moveItem(atPath: workspace.directory.subpath("disk"), toPath: workspace.destination)
        try FileManager.default.removeItem(atPath: workspace.destination + "/files")
        let refused = try workspace.run(["backup", "-q"])
        #expect(refused.status == 1, "\(refused.all)")
        #expect(refused.standardError.contains(".cairn-repositories.json"), "\(refused.all)")

        let plan = try workspace.run(["plan", "--new-repository"])
        #expect(plan.status == 0, "\(plan.all)")
        #expect(plan.standardOutput.contains("+ set files: new repository at \(workspace.destination)/files"))
        let created = try workspace.run(["backup", "-q", "--new-repository"])
        #expect(created.status == 0, "\(created.all)")
        #expect(try snapshots(workspace).count == 1)
    }

    @Test func twoConfigsSharingARepositoryNeverExpireEachOthersNewestSnapshot() throws {
        let workspace = try Workspace()
        try write(workspace.directory.subpath("a/only-in-a"), "a")
        try write(workspace.directory.subpath("b/only-in-b"), "b")
        for name in ["a", "b"] {
            try workspace.directory.write("\(name).yaml", """
                version: 1
                accounts: {local: {destination: ./destination}}
                encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
                retention: {one: {keep-jobs: 1}}
                backup-sets:
                  files: {account: local, sources: [./\(name)], retention: one}
                """)
        }
        #expect(try workspace.run(["backup", "-q", "-c", "a.yaml"]).status == 0)
        let planB = try workspace.run(["plan", "-c", "b.yaml"])
        #expect(planB.standardOutput.contains("~ sources: + \(workspace.directory.subpath("b")), - \(workspace.directory.subpath("a"))"), "\(planB.all)")
        #expect(try workspace.run(["backup", "-q", "-c", "b.yaml"]).status == 0)
        #expect(try workspace.run(["backup", "-q", "-c", "a.yaml"]).status == 0)
        let warned = try workspace.run(["plan", "-c", "b.yaml"])
        #expect(warned.standardOutput.contains("two configs or hosts seem to write to this repository"), "\(warned.all)")
        #expect(try workspace.run(["backup", "-q", "-c", "b.yaml"]).status == 0)
        #expect(try workspace.run(["backup", "-q", "-c", "a.yaml"]).status == 0)

        // b's newest snapshot survived a's keep-jobs 1: its file comes back.
        let listing = try workspace.run(["ls", "files", "--all-versions", "-c", "a.yaml"])
        #expect(listing.standardOutput.contains("only-in-b"), "\(listing.all)")
        let prune = try workspace.run(["prune", "files", "-c", "a.yaml", "--dry-run"])
        #expect(prune.standardOutput.contains("writer this config no longer is"), "\(prune.all)")
        let forced = try workspace.run(["prune", "files", "-c", "a.yaml", "--expire-other-writers"])
        #expect(forced.status == 0, "\(forced.all)")
        #expect(try snapshots(workspace).count == 1)
    }

    @Test func anInterruptedRunCarriesOverWhatItDidNotReach() throws {
        let workspace = try Workspace(extra: "    retention: one\nretention: {one: {keep-jobs: 1}}\n")
        for index in 0..<40 { try write(workspace.source + "/f\(index)", "version 1 of \(index)") }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        for index in 0..<40 { try write(workspace.source + "/f\(index)", "version 2 of \(index)") }
        for index in 0..<5 { try write(workspace.source + "/new\(index)", "new \(index)") }

        var interrupted = workspace
        interrupted.environment["CAIRN_FAULT_INJECTION"] = "file-stored:6:INT"
        let run = try interrupted.run(["backup", "-q"])
        #expect(run.status == 1, "\(run.all)")
        #expect(run.standardError.contains("interrupted: snapshot"), "\(run.all)")
        let list = try snapshots(workspace)
        #expect(list.map(\.status) == ["complete", "partial"], "a partial snapshot never pushes a complete one out")

        // The latest snapshot is a whole view: every file, in its new or its previous version.
        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.standardOutput.contains("(partial: the run was interrupted;"), "\(restore.all)")
        var carried = 0
        for index in 0..<40 {
            let text = read(workspace.restored(under: target) + "/f\(index)")
            #expect(text == "version 1 of \(index)" || text == "version 2 of \(index)", "f\(index): \(text ?? "missing")")
            if text == "version 1 of \(index)" { carried += 1 }
        }
        #expect(carried > 0)
        let listing = try workspace.run(["ls", "files"])
        #expect(listing.standardError.contains("partial"), "\(listing.all)")
        #expect(listing.standardOutput.components(separatedBy: "(carried over: not reached)").count - 1 == carried)
        let log = try workspace.run(["log", "files"])
        #expect(log.standardOutput.contains("partial"))

        // The next plan compares with that whole view: carried-over files are changed, not new.
        let plan = try workspace.run(["plan", "--json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.standardOutput.utf8)) as? [String: Any])
        let summary = try #require(((document["plans"] as? [[String: Any]])?.first)?["summary"] as? [String: Any])
        #expect((summary["changed_files"] as? Int) == carried, "\(plan.standardOutput)")
        #expect((summary["new_files"] as? Int ?? 0) <= 5)
        let finished = try workspace.run(["backup", "-q"])
        #expect(finished.status == 0, "\(finished.all)")
        #expect(try snapshots(workspace).map(\.status) == ["complete"], "the partial one expires once a newer complete one exists")
    }

    @Test func maxDurationStopsEveryRunOfTheSetWithAPartialSnapshot() throws {
        let workspace = try Workspace(extra: """
                schedules: [nightly]
            schedules: {nightly: {type: daily, at: "01:00", max-duration: 1s}}
            """)
        // Enough files that each run, 400 ms a file and three at a time, is far from done at
        // its limit: the apply after the backup too.
        for index in 0..<36 { try write(workspace.source + "/f\(index)", "file \(index)") }
        var slow = workspace
        slow.environment["CAIRN_FAULT_INJECTION"] = "file-stored:1:DELAY400"
        let run = try slow.run(["backup", "-q"])
        #expect(run.status == 1, "\(run.all)")
        #expect(run.standardError.contains("stopped at max-duration 1s"), "\(run.all)")
        #expect(try snapshots(workspace).map(\.status) == ["partial"])
        let apply = try slow.run(["apply", "--yes", "-q"])
        #expect(apply.standardError.contains("stopped at max-duration 1s"), "\(apply.all)")
    }

    @Test func aFileThatFailsKeepsItsPreviousVersion() throws {
        let workspace = try Workspace()
        try write(workspace.source + "/locked", "secret v1")
        try write(workspace.source + "/open", "public")
        // Root reads everything: run cairn as nobody, in a workspace nobody can use.
        let prefix = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "nobody", "--"] : []
        if getuid() == 0 {
            for path in [workspace.directory.path, workspace.source] { chmod(path, 0o755) }
            for path in [workspace.source + "/locked", workspace.source + "/open"] { chown(path, 65534, 65534) }
            chmod(workspace.destination, 0o777)
            chown(workspace.source, 65534, 65534)
            for folder in ["state", "cache"] {
                try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
                chown(workspace.directory.subpath(folder), 65534, 65534)
            }
        }
        func cairn(_ arguments: [String]) throws -> CairnProcess.Output {
            try workspace.cairn.run(arguments, in: workspace.directory.path, environment: workspace.environment, prefix: prefix)
        }
        #expect(try cairn(["backup", "-q"]).status == 0)
        try write(workspace.source + "/locked", "secret v2")
        chmod(workspace.source + "/locked", 0)
        let backup = try cairn(["backup"])
        #expect(backup.status == 3, "\(backup.all)")
        #expect(backup.standardError.contains("locked: cannot be read: Permission denied; its previous version is kept"), "\(backup.all)")
        let listing = try cairn(["ls", "files"])
        #expect(listing.standardOutput.contains("/locked  (carried over: read failed)"), "\(listing.all)")
        let statuses = try cairn(["snapshots", "files"]).standardOutput
        let log = try cairn(["log", "files"]).standardOutput
        #expect(statuses.contains("incomplete") && log.contains("incomplete"), "the same word in both:\n\(statuses)\n\(log)")

        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(read(workspace.restored(under: target) + "/locked") == "secret v1")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func applyAsksBeforeItRunsAnyCommand() throws {
        var workspace = try Workspace(extra: """
                commands:
                  pre: [{name: mark, run: "date +%s%N >> \\"$MARKER\\""}]
            """)
        try write(workspace.source + "/a", "a")
        let marker = workspace.directory.subpath("pre-ran")
        workspace.environment["MARKER"] = marker
        let declined = try onTerminal(workspace, ["apply"], input: "no\n")
        #expect(declined.contains("Only 'yes' is accepted"), "\(declined)")
        #expect(!FileManager.default.fileExists(atPath: marker), "answering no runs no command")
        #expect(!FileManager.default.fileExists(atPath: workspace.destination + "/files"), "and writes nothing")
        let log = try workspace.run(["log", "files", "--json"])
        #expect(log.standardOutput.contains("\"cancelled\""), "\(log.standardOutput)")

        let accepted = try onTerminal(workspace, ["apply"], input: "yes\n", delay: 2)
        #expect(accepted.contains("files: snapshot "), "\(accepted)")
        #expect(FileManager.default.fileExists(atPath: marker), "the pre-command ran after the confirmation")
        // The job's duration leaves out the time at the prompt (the answer came 2 s late).
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(try workspace.run(["log", "files", "--json"]).standardOutput.utf8)) as? [[String: Any]])
        let done = try #require(reports.first { ($0["status"] as? String) == "complete" }, "\(reports)")
        func seconds(_ key: String) -> Double {
            (done[key] as? String).flatMap(Timestamp.init(rfc3339:))?.date.timeIntervalSince1970 ?? 0
        }
        let duration = seconds("end") - seconds("start")
        #expect(duration < 1.8, "duration \(duration) s counts the prompt")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func applyAsksEvenWhenThePlanFailsBeforeThePreCommandsThatFixIt() throws {
        // The pre-command makes the source (a dump folder): before it runs, the source is missing.
        var workspace = try Workspace(extra: """
                commands:
                  pre: [{name: dump, run: "mkdir -p \\"$SOURCE\\" && echo dumped > \\"$SOURCE/db.sql\\""}]
            """)
        workspace.environment["SOURCE"] = workspace.source
        let declined = try onTerminal(workspace, ["apply"], input: "no\n")
        #expect(declined.contains("before its pre-commands, the plan fails"), "\(declined)")
        #expect(declined.contains("Only 'yes' is accepted"), "asked, not run: \(declined)")
        #expect(!FileManager.default.fileExists(atPath: workspace.source + "/db.sql"), "no command ran")
        let accepted = try onTerminal(workspace, ["apply"], input: "yes\nyes\n")
        #expect(accepted.contains("after the pre-commands, the plan is:"), "\(accepted)")
        #expect(accepted.contains("files: snapshot "), "\(accepted)")
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(read(workspace.restored(under: target) + "/db.sql") == "dumped\n")
    }

    func onTerminal(_ workspace: Workspace, _ arguments: [String], input: String, delay: Int = 0) throws -> String {
        try workspace.onTerminal(arguments, input: input, delay: delay)
    }

    /// Random histories of complete, partial (interrupted at a random file) and failed (killed)
    /// runs with keep-jobs 2: after every run and its prune, the latest snapshot holds, for each
    /// file that still exists, the newest version any run read; nothing newer is ever lost.
    @Test(arguments: [21, 22] as [UInt64])
    func randomHistoriesOfCompletePartialAndKilledRunsLoseNoVersion(seed: UInt64) throws {
        let workspace = try Workspace(extra: "    retention: two\nretention: {two: {keep-jobs: 2}}\n")
        var random = SeededGenerator(state: seed)
        var names = (0..<16).map { "f\($0)" }
        for name in names { try write(workspace.source + "/" + name, "\(name) initial") }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        var newest = Dictionary(uniqueKeysWithValues: names.map { ($0, "\($0) initial") })
        var kinds: [String: Int] = [:]
        for step in 1...12 {
            // Edits: rewrite some files, add one, delete one now and then.
            for name in names.shuffled(using: &random).prefix(Int.random(in: 1...8, using: &random)) {
                try write(workspace.source + "/" + name, "\(name) step \(step)")
            }
            let added = "n\(step)"
            try write(workspace.source + "/" + added, "\(added) step \(step)")
            names.append(added)
            if Bool.random(using: &random), let gone = names.randomElement(using: &random) {
                try FileManager.default.removeItem(atPath: workspace.source + "/" + gone)
                names.removeAll { $0 == gone }
            }
            var run = workspace
            let kind = ["complete", "partial", "killed"].randomElement(using: &random)!
            kinds[kind, default: 0] += 1
            switch kind {
            case "partial": run.environment["CAIRN_FAULT_INJECTION"] = "file-stored:\(Int.random(in: 1...6, using: &random)):INT"
            case "killed": run.environment["CAIRN_FAULT_INJECTION"] = "file-stored:\(Int.random(in: 1...6, using: &random)):KILL"
            default: break
            }
            let output = try run.run(["backup", "-q"])
            if kind == "complete" { #expect(output.status == 0, "step \(step): \(output.all)") }

            let target = workspace.directory.subpath("restore-\(step)")
            let restore = try workspace.run(["restore", "files", "--to", target])
            #expect(restore.status == 0, "step \(step): \(restore.all)")
            var stillThere: [String: String] = [:]
            for name in names {
                let current = read(workspace.source + "/" + name)
                let restored = read(workspace.restored(under: target) + "/" + name)
                if let known = newest[name] {
                    // Read this time, or carried over as the newest version read before.
                    #expect(restored == current || restored == known, "step \(step) (\(kind)): \(name) is \(restored ?? "missing"), newest read \(known)")
                } else {
                    #expect(restored == nil || restored == current, "step \(step) (\(kind)): new \(name) is \(restored ?? "missing")")
                }
                if let restored { stillThere[name] = restored } else if let known = newest[name] { stillThere[name] = known }
            }
            newest = stillThere
            try? FileManager.default.removeItem(atPath: target)
        }
        let verify = try workspace.run(["verify", "files"])
        #expect(verify.status == 0, "\(verify.all)")
        #expect(kinds.count >= 2, "a history of one kind only: \(kinds)")
    }
}
