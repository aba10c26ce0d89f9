import CairnTesting
import Foundation
import Testing

/// `cairn run-due`, as cron calls it, with `--now` standing in for the clock.
@Suite("Scheduled runs")
struct RunDueTests {
    /// A workspace whose set `files` runs daily at 01:00 UTC, with `extra` lines for the set.
    func workspace(
        _ extra: String = "    schedules: [nightly]", schedules: String = "nightly: {type: daily, at: \"01:00\"}", zone: String = "UTC"
    ) throws -> Workspace {
        let workspace = try Workspace(extra: """
            \(extra)
            timezone: \(zone)
            schedules: {\(schedules)}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        return workspace
    }

    func runDue(_ workspace: Workspace, at time: String, _ more: [String] = []) throws -> CairnProcess.Output {
        try workspace.run(["run-due", "--now", time, "-q"] + more)
    }

    func snapshotCount(_ workspace: Workspace, _ set: String = "files") throws -> Int {
        let output = try workspace.run(["snapshots", set, "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [Any]
        return rows?.count ?? -1
    }

    /// The state file of the set, decoded.
    func state(_ workspace: Workspace) throws -> [String: Any] {
        let folder = workspace.directory.subpath("state/cairn/schedule")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".json") })
        let data = try #require(FileManager.default.contents(atPath: folder + "/" + name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func aSetRunsOnceForEachFiringAndMissedFiringsMakeOneRun() throws {
        let workspace = try workspace()
        // First sight: earlier firings are not owed, and nothing is printed (cron mails output).
        let first = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        #expect(first.status == 0 && first.all.isEmpty, "\(first.all)")
        #expect(try snapshotCount(workspace) == 0)

        let due = try runDue(workspace, at: "2027-03-02T01:05:00Z")
        #expect(due.status == 0, "\(due.all)")
        #expect(due.standardOutput.contains("files: running: its schedule fired at 2027-03-02 01:00:00 +00:00"), "\(due.all)")
        #expect(try snapshotCount(workspace) == 1)

        let again = try runDue(workspace, at: "2027-03-02T01:10:00Z")
        #expect(again.status == 0 && again.all.isEmpty, "the firing is served: \(again.all)")
        #expect(try snapshotCount(workspace) == 1)

        // Off for four days: one run, not four.
        try Data("second".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        let back = try runDue(workspace, at: "2027-03-06T09:00:00Z")
        #expect(back.standardOutput.contains("fired at 2027-03-06 01:00:00 +00:00 (4 firings since the last scheduled run: one run)"), "\(back.all)")
        #expect(try snapshotCount(workspace) == 2)
        #expect(try runDue(workspace, at: "2027-03-06T09:05:00Z").all.isEmpty)
        // The status file for monitoring: the last job, the last success, the next firing.
        let statusData = try #require(FileManager.default.contents(atPath: workspace.directory.subpath("state/cairn/status/files.json")))
        let status = try #require(try JSONSerialization.jsonObject(with: statusData) as? [String: Any])
        let lastJob = try #require(status["last-job"] as? [String: Any])
        #expect(lastJob["command"] as? String == "run-due" && lastJob["status"] as? String == "complete", "\(status)")
        #expect(lastJob["files"] as? Int == 1 && (lastJob["snapshot"] as? String)?.count == 64, "\(status)")
        #expect((status["last-success"] as? String)?.hasPrefix("2027-03-06T09:00:0") == true, "\(status)")
        #expect(status["next-firing"] as? String == "2027-03-07T01:00:00Z", "\(status)")
        #expect(status["last-failure"] == nil)
        let recorded = try state(workspace)
        #expect(recorded["lastFiring"] as? Double == 1_804_294_800, "2027-03-06T01:00Z: \(recorded)")
        #expect((recorded["lastRun"] as? [String: Any])?["outcome"] as? String == "success", "\(recorded)")

        // The dry run says what would run and why, and runs nothing.
        let dry = try runDue(workspace, at: "2027-03-07T01:30:00Z", ["--dry-run"])
        #expect(dry.standardOutput == "files: would run: its schedule fired at 2027-03-07 01:00:00 +00:00\n", "\(dry.all)")
        let notYet = try runDue(workspace, at: "2027-03-07T00:30:00Z", ["--dry-run"])
        #expect(notYet.standardOutput == "files: not due (next firing 2027-03-07 01:00:00 +00:00)\n", "\(notYet.all)")
        #expect(try snapshotCount(workspace) == 2)
    }

    @Test func onlySetsBoundToThisHostRun() throws {
        let workspace = try workspace("""
                schedules: [nightly]
                host: some-other-host
            """)
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        let due = try runDue(workspace, at: "2027-03-02T01:05:00Z")
        #expect(due.status == 0 && due.all.isEmpty, "\(due.all)")
        #expect(try snapshotCount(workspace) == 0)
        let dry = try runDue(workspace, at: "2027-03-02T01:05:00Z", ["--dry-run"])
        #expect(dry.standardOutput.contains("files: runs on host some-other-host, not here"), "\(dry.all)")
    }

    @Test func anOfflineIntervalCatchesUpWithoutASchedule() throws {
        let workspace = try workspace("    offline-interval: 24h", schedules: "")
        let first = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        #expect(first.standardOutput.contains("files: running: it has no successful backup yet (offline-interval 1d)"), "\(first.all)")
        #expect(try snapshotCount(workspace) == 1)
        #expect(try runDue(workspace, at: "2027-03-02T09:00:00Z").all.isEmpty, "23 hours later: not yet")
        let later = try runDue(workspace, at: "2027-03-02T10:30:00Z")
        #expect(later.standardOutput.contains("files: running: its last successful backup was 1d 29m ago (offline-interval 1d)")
            || later.standardOutput.contains("files: running: its last successful backup was 1d 30m ago (offline-interval 1d)"), "\(later.all)")
        #expect(try snapshotCount(workspace) == 2)
    }

    @Test func aBackupByHandCountsForTheOfflineInterval() throws {
        let workspace = try workspace("    offline-interval: 24h", schedules: "")
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        // The backup's time is the real one; run-due at that time finds it recent.
        let dry = try workspace.run(["run-due", "--dry-run"])
        #expect(dry.standardOutput.hasPrefix("files: not due"), "\(dry.all)")
    }

    @Test func twoRunDueAtOnceNeverRunASetTwice() throws {
        let workspace = try workspace("""
                schedules: [nightly]
                commands: {pre: [{name: slow, run: "sleep 2"}]}
            """)
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        let runs = try (0..<3).map { _ in
            try workspace.cairn.start(["run-due", "--now", "2027-03-02T01:05:00Z", "-q"], in: workspace.directory.path, environment: workspace.environment)
        }
        let outputs = try runs.map { try $0.wait() }
        for output in outputs { #expect(output.status == 0, "\(output.all)") }
        #expect(outputs.filter { $0.standardOutput.contains("files: running:") }.count == 1, "\(outputs.map(\.all))")
        #expect(try snapshotCount(workspace) == 1)
    }

    @Test func aRunKilledHalfWayIsOwedAgain() throws {
        let workspace = try workspace("""
                schedules: [nightly]
                commands: {pre: [{name: slow, run: "sleep 30"}]}
            """)
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        let running = try workspace.cairn.start(["run-due", "--now", "2027-03-02T01:05:00Z", "-q"], in: workspace.directory.path, environment: workspace.environment)
        // Killed once the run is recorded as started.
        var started = false
        for _ in 0..<500 where !started {
            started = ((try? state(workspace))?["running"] as? [String: Any]) != nil
            if !started { usleep(10_000) }
        }
        #expect(started)
        kill(running.pid, SIGKILL)
        _ = try running.wait()
        #expect(try snapshotCount(workspace) == 0)

        // The pre-command is quick now; the next call runs the owed firing.
        try workspace.directory.write("cairn.yaml", try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "sleep 30", with: "true"))
        let next = try runDue(workspace, at: "2027-03-02T01:20:00Z")
        #expect(next.status == 0 && next.standardOutput.contains("files: running: its schedule fired at 2027-03-02 01:00:00 +00:00"), "\(next.all)")
        #expect(try snapshotCount(workspace) == 1)
    }

    @Test func aFiringGivenUpAfterThreeKilledRunsIsNotified() throws {
        let workspace = try workspace("""
                schedules: [nightly]
                notify: {command: "cat > \\"$XDG_STATE_HOME/given-up-$CAIRN_OUTCOME.json\\"", when: failure}
            """)
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        // Three runs for the 01:00 firing were killed (as the out-of-memory killer would).
        let folder = workspace.directory.subpath("state/cairn/schedule")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".json") })
        var recorded = try state(workspace)
        recorded["running"] = ["firing": 1_803_949_200, "start": 1_803_949_260, "pid": 999_999, "attempts": 3]
        try JSONSerialization.data(withJSONObject: recorded).write(to: URL(fileURLWithPath: folder + "/" + name))
        let given = try runDue(workspace, at: "2027-03-02T01:30:00Z")
        #expect(given.status == 1 && given.standardError.contains("were killed 3 times before they ended"), "\(given.all)")
        let sent = try #require(FileManager.default.contents(atPath: workspace.directory.subpath("state/given-up-failure.json")), "the channel hears of it")
        let notification = try #require(try JSONSerialization.jsonObject(with: sent) as? [String: Any])
        #expect(((notification["report"] as? [String: Any])?["failure"] as? String)?.contains("killed 3 times") == true, "\(notification)")
        #expect(try snapshotCount(workspace) == 0)
    }

    @Test func maxDurationStopsAScheduledRunAndTheNextFiringGoesOn() throws {
        let workspace = try workspace(schedules: "nightly: {type: daily, at: \"01:00\", max-duration: 1s}")
        for index in 0..<30 { try Data("file \(index)".utf8).write(to: URL(fileURLWithPath: workspace.source + "/f\(index)")) }
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        var slow = workspace
        slow.environment["CAIRN_FAULT_INJECTION"] = "file-stored:1:DELAY400"
        let stopped = try runDue(slow, at: "2027-03-02T01:05:00Z")
        #expect(stopped.status == 1 && stopped.standardError.contains("stopped at max-duration 1s"), "\(stopped.all)")
        #expect(try runDue(workspace, at: "2027-03-02T02:00:00Z").all.isEmpty, "the firing was served, by a partial snapshot")
        let next = try runDue(workspace, at: "2027-03-03T01:05:00Z")
        #expect(next.status == 0, "\(next.all)")
        let output = try workspace.run(["snapshots", "files", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.map { ($0["snapshot"] as? [String: Any])?["status"] as? String } == ["partial", "complete"])
    }

    @Test func scheduleShowsTheNextFiringsInTheZone() throws {
        let workspace = try workspace(
            "    schedules: [night, weekly]", schedules: "night: {type: daily, at: \"02:30\"}, weekly: {type: weekly, days: [sunday], at: \"02:30\", max-duration: 2h}",
            zone: "Europe/Berlin")
        let json = try workspace.run(["schedule", "files", "--from", "2027-03-27T12:00:00Z", "--count", "3", "--json"])
        #expect(json.status == 0, "\(json.all)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["set"] as? String == "files" && rows[0]["timezone"] as? String == "Europe/Berlin")
        // 2027-03-28 02:30 falls in the spring-forward gap: 03:00 CEST; the two schedules fire once.
        // JSON says times in UTC, as every --json output does.
        #expect(
            rows[0]["next"] as? [String] == ["2027-03-28T01:00:00.000000000Z", "2027-03-29T00:30:00.000000000Z", "2027-03-30T00:30:00.000000000Z"],
            "\(rows)")
        let schedules = try #require(rows[0]["schedules"] as? [[String: Any]])
        #expect(schedules.map { $0["description"] as? String } == ["daily at 02:30", "weekly on sunday at 02:30, stopped after 2h"])

        let text = try workspace.run(["schedule", "--from", "2027-10-30T12:00", "--count", "2"])
        #expect(text.status == 0, "\(text.all)")
        #expect(text.standardOutput.contains("backup set 'files', in Europe/Berlin:"), "\(text.all)")
        #expect(text.standardOutput.contains("next: 2027-10-31 02:30:00 +02:00  Sun"), "the first of the repeated hour: \(text.all)")
        #expect(text.standardOutput.contains("next: 2027-11-01 02:30:00 +01:00  Mon"), "\(text.all)")

        let unknown = try workspace.run(["schedule", "nosuchset"])
        #expect(unknown.status == 1 && unknown.standardError.contains("there is no backup set 'nosuchset'"), "\(unknown.all)")
        let badTime = try workspace.run(["schedule", "--from", "soon"])
        #expect(badTime.status == 64, "\(badTime.all)")
    }

    @Test func aDamagedStateFileIsNamedAndOtherSetsStillRun() throws {
        let workspace = try workspace("""
                schedules: [nightly]
              other:
                account: local
                sources: [./source]
                repository: other
                schedules: [nightly]
            """)
        _ = try runDue(workspace, at: "2027-03-01T10:00:00Z")
        let folder = workspace.directory.subpath("state/cairn/schedule")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("files-") && $0.hasSuffix(".json") }
        #expect(files.count == 1)
        try Data("{\"version\": 1, \"set\": tru".utf8).write(to: URL(fileURLWithPath: folder + "/" + files[0]))
        let run = try runDue(workspace, at: "2027-03-02T01:05:00Z")
        #expect(run.status == 1, "\(run.all)")
        #expect(run.standardError.contains("backup set 'files': the run state \(folder)/\(files[0].dropLast(5)).json cannot be read"), "\(run.all)")
        #expect(run.standardOutput.contains("other: running: its schedule fired at 2027-03-02 01:00:00 +00:00"), "\(run.all)")
        #expect(try snapshotCount(workspace, "other") == 1 && snapshotCount(workspace) == 0)
    }

    @Test func aRunRecordedInTheFutureDoesNotStopTheSchedule() throws {
        let workspace = try workspace()
        _ = try runDue(workspace, at: "2030-01-01T00:00:00Z")
        let future = try runDue(workspace, at: "2030-01-02T01:05:00Z")
        #expect(future.standardOutput.contains("files: running:"), "\(future.all)")
        // The clock is back in 2027: the state's 2030 counts as now, and the next firing runs.
        let back = try runDue(workspace, at: "2027-03-02T12:00:00Z")
        #expect(back.status == 0 && back.standardError.contains("its run state records 2030-01-02 01:"), "\(back.all)")
        #expect(!back.standardOutput.contains("running"), "\(back.all)")
        let next = try runDue(workspace, at: "2027-03-03T01:05:00Z")
        #expect(next.standardOutput.contains("files: running: its schedule fired at 2027-03-03 01:00:00 +00:00"), "\(next.all)")
        #expect(next.standardError.isEmpty, "\(next.all)")
    }

    @Test func badTimesAreRefused() throws {
        let workspace = try workspace()
        let output = try workspace.run(["run-due", "--now", "yesterday"])
        #expect(output.status == 64 && output.standardError.contains("'yesterday' is not a time"), "\(output.all)")
    }
}

@Suite("The metrics file")
struct MetricsFileEndToEndTests {
    @Test func runDueAndBackupsKeepAPrometheusTextfileCurrent() throws {
        let workspace = try Workspace(extra: """
                schedules: [nightly]
            timezone: UTC
            metrics-file: ./metrics/cairn.prom
            schedules: {nightly: {type: daily, at: "01:00"}}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        let file = workspace.directory.subpath("metrics/cairn.prom")
        func metrics() throws -> [String: Double] {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            var values: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 2, "a sample is NAME{LABELS} VALUE: \(line)")
                values[String(parts[0])] = Double(parts[1])
            }
            return values
        }
        #expect(try workspace.run(["run-due", "--now", "2027-03-01T10:00:00Z", "-q"]).status == 0)
        // Nothing ran yet: the next firing and the time written.
        var seen = try metrics()
        #expect(seen["cairn_next_firing_timestamp_seconds{set=\"files\"}"] == 1_803_949_200, "2027-03-02T01:00Z: \(seen)")
        let written = try #require(seen["cairn_metrics_written_timestamp_seconds"])
        #expect(written >= 1_803_895_200 && written < 1_803_895_260, "2027-03-01T10:00Z: \(seen)")
        #expect(seen["cairn_last_success_timestamp_seconds{set=\"files\"}"] == nil)

        let ran = try workspace.run(["run-due", "--now", "2027-03-02T01:05:00Z", "-q"])
        #expect(ran.status == 0, "\(ran.all)")
        seen = try metrics()
        let success = try #require(seen["cairn_last_success_timestamp_seconds{set=\"files\"}"], "\(seen)")
        #expect(success >= 1_803_949_500 && success < 1_803_949_560, "2027-03-02T01:05Z: \(seen)")
        #expect(seen["cairn_last_job_success{set=\"files\",status=\"complete\"}"] == 1)
        #expect(seen["cairn_last_job_files{set=\"files\"}"] == 1 && seen["cairn_last_job_problems{set=\"files\"}"] == 0)
        #expect(seen["cairn_last_job_bytes{set=\"files\"}"] == 5)
        #expect(seen["cairn_next_firing_timestamp_seconds{set=\"files\"}"] == 1_804_035_600, "2027-03-03T01:00Z: \(seen)")
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o644, "node_exporter reads it")

        // A failed backup by hand shows too.
        var broken = workspace
        broken.environment["CAIRN_KEY"] = "not the key"
        #expect(try broken.run(["backup", "files", "-q"]).status == 1)
        seen = try metrics()
        #expect(seen["cairn_last_job_success{set=\"files\",status=\"failed\"}"] == 0, "\(seen)")
        #expect(seen["cairn_last_failure_timestamp_seconds{set=\"files\"}"] != nil)
        #expect(seen["cairn_last_success_timestamp_seconds{set=\"files\"}"] == success, "the last success is kept")
    }
}

@Suite("Scheduled verify")
struct ScheduledVerifyTests {
    @Test func aPackThatCannotBeReadIsDamageAndTheCycleGoesOn() throws {
        let workspace = try Workspace(extra: """
                verify: {schedule: weekly, read-data: 100%}
            timezone: UTC
            schedules: {weekly: {type: weekly, days: [sunday], at: "03:00"}}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        for number in 1...3 {
            try Data((0..<20_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/f\(number)"))
            #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        }
        let packs = (FileManager.default.enumerator(atPath: workspace.destination + "/files/data")?.allObjects as? [String] ?? [])
            .filter { $0.split(separator: "/").count == 2 }.sorted()
        // One pack becomes something that cannot be read as a file.
        let victim = workspace.destination + "/files/data/" + packs[0]
        try FileManager.default.removeItem(atPath: victim)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: false)
        _ = try workspace.run(["run-due", "--now", "2027-03-01T10:00:00Z", "-q"])
        let checked = try workspace.run(["run-due", "--now", "2027-03-07T03:05:00Z", "-q"])
        #expect(checked.status == 1, "\(checked.all)")
        #expect(checked.standardOutput.contains("cannot be read") && checked.standardOutput.contains("3 packs"), "the other packs are read too: \(checked.all)")
        let data = try #require(FileManager.default.contents(atPath: workspace.directory.subpath("state/cairn/status/files.json")))
        let verify = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["last-verify"] as? [String: Any])
        #expect(verify["status"] as? String == "failed" && (verify["damaged"] as? Int ?? 0) >= 1 && verify["packs-read"] as? Int == 3, "\(verify)")
        #expect(try workspace.run(["run-due", "--now", "2027-03-07T05:10:00Z", "-q"]).all.isEmpty, "damage is the answer, not retried")
    }

    @Test func eachRunReadsTheNextSliceAndDamageIsReported() throws {
        let workspace = try Workspace(extra: """
                verify: {schedule: weekly, read-data: 50%}
                notify:
                  - command: "cat > \\"$XDG_STATE_HOME/$(date +%s%N)-$CAIRN_EVENT-$CAIRN_OUTCOME.json\\""
                    when: failure
            timezone: UTC
            schedules: {weekly: {type: weekly, days: [sunday], at: "03:00"}}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        // Eight backups of new random files: a pack each.
        for number in 1...8 {
            try Data((0..<50_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/f\(number)"))
            #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        }
        let packs = (FileManager.default.enumerator(atPath: workspace.destination + "/files/data")?.allObjects as? [String] ?? [])
            .filter { $0.split(separator: "/").count == 2 }
        #expect(packs.count == 8, "\(packs)")
        func runDue(_ time: String, _ more: [String] = []) throws -> CairnProcess.Output {
            try workspace.run(["run-due", "--now", time, "-q"] + more)
        }
        func lastVerify() throws -> [String: Any] {
            let data = try #require(FileManager.default.contents(atPath: workspace.directory.subpath("state/cairn/status/files.json")))
            let status = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            return try #require(status["last-verify"] as? [String: Any], "\(status)")
        }
        func failures() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: workspace.directory.subpath("state"))) ?? []).filter { $0.hasSuffix("-failure.json") }
        }

        #expect(try runDue("2027-03-01T10:00:00Z").all.isEmpty, "first sight: nothing owed")
        let dry = try runDue("2027-03-07T03:05:00Z", ["--dry-run"])
        #expect(dry.standardOutput.contains("files: would verify: its verify schedule fired at 2027-03-07 03:00:00 +00:00; reading slice 1/2 of the packs"), "\(dry.all)")
        let first = try runDue("2027-03-07T03:05:00Z")
        #expect(first.status == 0 && first.standardOutput.contains("slice 1/2 of the packs:"), "\(first.all)")
        let firstRead = try #require(try lastVerify()["packs-read"] as? Int)
        #expect(try lastVerify()["slice"] as? String == "1/2" && lastVerify()["status"] as? String == "complete")
        #expect(try runDue("2027-03-07T03:10:00Z").all.isEmpty, "the firing is served")
        #expect(try runDue("2027-03-14T03:05:00Z").status == 0)
        let secondRead = try #require(try lastVerify()["packs-read"] as? Int)
        #expect(try lastVerify()["slice"] as? String == "2/2")
        #expect(firstRead + secondRead == 8, "a cycle reads every pack once: \(firstRead) + \(secondRead)")
        #expect(failures().isEmpty)

        // A flipped byte in every pack: the next verify, whichever slice, finds it and says so.
        for pack in packs {
            let path = workspace.destination + "/files/data/" + pack
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            bytes[bytes.count / 2] ^= 0x40
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        let damaged = try runDue("2027-03-21T03:05:00Z")
        #expect(damaged.status == 1 && damaged.standardOutput.contains("damaged:"), "\(damaged.all)")
        #expect(try lastVerify()["status"] as? String == "failed" && (lastVerify()["damaged"] as? Int ?? 0) > 0)
        #expect(failures().count == 1, "the failure is notified")
        #expect(try runDue("2027-03-21T05:10:00Z").all.isEmpty, "damage found is the answer: not verified again until the next firing")

        // A verify that cannot run (the repository is away) is tried again an hour later, on the
        // same slice.
        try FileManager.default.moveItem(atPath: workspace.destination + "/files", toPath: workspace.destination + "/away")
        let away = try runDue("2027-03-28T03:05:00Z")
        #expect(away.status == 1, "\(away.all)")
        #expect(try lastVerify()["slice"] as? String == "2/2" && lastVerify()["failure"] != nil)
        #expect(try runDue("2027-03-28T03:40:00Z").all.isEmpty, "not before an hour has passed")
        try FileManager.default.moveItem(atPath: workspace.destination + "/away", toPath: workspace.destination + "/files")
        let retried = try runDue("2027-03-28T04:10:00Z")
        #expect(retried.standardOutput.contains("could not run: trying again; reading slice 2/2"), "\(retried.all)")
    }
}
