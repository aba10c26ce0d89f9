import CairnTesting
import Foundation
import Testing

struct ServerFailure: Error, CustomStringConvertible {
    var description: String
}

/// A server from Tests/Servers, started on loopback for one test: it prints its port, records
/// what it receives as files in `folder`, and is killed when the test lets go of it.
final class LocalServer {
    let process = Process()
    let folder: String
    let port: Int

    init(_ script: String, folder: String) throws {
        self.folder = folder
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SourceTree.path("Tests/Servers/\(script)"), folder]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // The first line is the port; a server that does not start fails the test.
        var line = Data()
        while let byte = try pipe.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw ServerFailure(description: "\(script) did not start (is PyPI's aiosmtpd installed? scripts/install-deps.sh installs it)")
        }
        self.port = port
    }

    deinit {
        // SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The files received so far, oldest first, waiting up to `seconds` for at least `count`.
    func received(atLeast count: Int, within seconds: Double = 10) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }
                .sorted { Int($0.split(separator: ".")[0]) ?? 0 < Int($1.split(separator: ".")[0]) ?? 0 }
            if names.count >= count || Date() > deadline {
                return names.compactMap { try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}

/// Notifications through the built binary: a command, e-mail through Debian's msmtp-mta
/// sendmail into an aiosmtpd sink, and webhooks into a local HTTP listener.
@Suite("Notifications end to end")
struct NotifyEndToEndTests {
    /// A workspace whose sendmail (msmtp, reading ~/.msmtprc) delivers to `smtp`.
    func workspace(notify: String, smtp: LocalServer? = nil, extra: String = "") throws -> Workspace {
        var workspace = try Workspace(extra: "    notify:\n" + notify + extra)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("first".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        let home = workspace.directory.subpath("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        if let smtp {
            let rc = home + "/.msmtprc"
            try Data("defaults\nauth off\ntls off\naccount default\nhost 127.0.0.1\nport \(smtp.port)\nfrom cairn@backup.example\n".utf8)
                .write(to: URL(fileURLWithPath: rc))
            chmod(rc, 0o600)
        }
        workspace.environment["HOME"] = home
        return workspace
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// The files a notify command wrote, as JSON, oldest first.
    func commandReceived(_ folder: String) throws -> [[String: Any]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return try names.map { try json(String(contentsOfFile: folder + "/" + $0, encoding: .utf8)) }
    }

    @Test func eachChannelGetsTheReportsItAsksFor() throws {
        let scratch = try TemporaryDirectory("cairn-notify")
        let smtp = try LocalServer("smtp_sink.py", folder: scratch.subpath("mail"))
        let http = try LocalServer("http_sink.py", folder: scratch.subpath("http"))
        let got = scratch.subpath("command")
        try FileManager.default.createDirectory(atPath: got, withIntermediateDirectories: true)
        let workspace = try workspace(
            notify: """
                      - command: "cat > \(got)/$(date +%s%N)-$CAIRN_EVENT-$CAIRN_OUTCOME.json"
                      - email: {to: [ops@example.com, boss@example.org], from: cairn@backup.example}
                        when: [failure, problems]
                      - webhook: http://127.0.0.1:\(http.port)/hook/report
                        when: success
                      - webhook: {url: "http://127.0.0.1:\(http.port)/ping/1234-abcd", style: healthchecks}
                """, smtp: smtp)

        let good = try workspace.run(["backup", "files", "-q"])
        #expect(good.status == 0 && !good.standardError.contains("warning"), "\(good.all)")
        // The command: the report as JSON on its standard input, with the event and outcome.
        let first = try commandReceived(got)
        #expect(first.count == 1, "\(first)")
        #expect(first.first?["event"] as? String == "finish" && first.first?["outcome"] as? String == "success")
        let report = try #require(first.first?["report"] as? [String: Any])
        #expect(report["set"] as? String == "files" && report["status"] as? String == "complete" && (report["snapshot"] as? String)?.count == 64)
        // The report webhook and the healthchecks pings: start, then /0 with the report.
        let posts = try http.received(atLeast: 3).map(json)
        #expect(posts.count == 3, "\(posts)")
        let paths = posts.map { $0["path"] as? String ?? "" }
        #expect(Set(paths) == ["/hook/report", "/ping/1234-abcd/start", "/ping/1234-abcd/0"], "\(paths)")
        #expect(paths.firstIndex(of: "/ping/1234-abcd/start")! < paths.firstIndex(of: "/ping/1234-abcd/0")!)
        let hook = try #require(posts.first { $0["path"] as? String == "/hook/report" })
        #expect((hook["headers"] as? [String: String])?["Content-Type"] == "application/json")
        let body = try json(hook["body"] as? String ?? "")
        #expect(body["outcome"] as? String == "success" && (body["report"] as? [String: Any])?["status"] as? String == "complete")
        #expect(body["exit-status"] as? Int == 0 && (body["end"] as? String)?.hasSuffix("Z") == true, "\(body)")
        // No e-mail for a success: when says failure and problems.
        #expect(smtp.received(atLeast: 1, within: 1).isEmpty)

        // A failed job: the key is wrong. Mail goes out; the report webhook stays quiet.
        var wrongKey = workspace
        wrongKey.environment["CAIRN_KEY"] = "not the key"
        try Data("second".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        let bad = try wrongKey.run(["backup", "files", "-q"])
        #expect(bad.status == 1, "\(bad.all)")
        let mails = smtp.received(atLeast: 1)
        #expect(mails.count == 1, "\(mails)")
        let mail = try #require(mails.first)
        #expect(mail.contains("X-Envelope-To: ops@example.com boss@example.org"), "\(mail)")
        #expect(mail.contains("X-Envelope-From: cairn@backup.example"), "\(mail)")
        #expect(mail.contains("Subject: [cairn] files on ") && mail.contains(": backup failed"), "\(mail)")
        #expect(mail.contains("X-Cairn-Outcome: failure") && mail.contains("Content-Transfer-Encoding: quoted-printable"), "\(mail)")
        #expect(mail.replacingOccurrences(of: "=\n", with: "").contains("Failure:"), "\(mail)")
        let later = try http.received(atLeast: 5).map(json)
        let newPaths = later.dropFirst(3).map { $0["path"] as? String ?? "" }
        #expect(newPaths == ["/ping/1234-abcd/start", "/ping/1234-abcd/1"], "healthchecks hears of the failure by the exit status: \(newPaths)")
        let failures = try commandReceived(got).filter { $0["outcome"] as? String == "failure" }
        #expect(failures.count == 1 && (failures.first?["report"] as? [String: Any])?["failure"] != nil, "\(failures)")
    }

    @Test func aChannelThatFailsNeverFailsTheBackup() throws {
        let scratch = try TemporaryDirectory("cairn-notify")
        let http = try LocalServer("http_sink.py", folder: scratch.subpath("http"))
        // A listener that is gone: its port is free again.
        let gone: Int
        do {
            let closed = try LocalServer("http_sink.py", folder: scratch.subpath("gone"))
            gone = closed.port
        }
        let workspace = try workspace(notify: """
                  - command: "echo the pager is down >&2; exit 5"
                  - email: {to: ops@example.com, sendmail: /nonexistent/sendmail}
                  - webhook: http://127.0.0.1:\(gone)/hook
                    timeout: 2s
                  - webhook: http://127.0.0.1:\(http.port)/status/404
                  - webhook: http://127.0.0.1:\(http.port)/flaky/hook
            """)
        let result = try workspace.run(["backup", "files", "-q"])
        #expect(result.status == 0, "\(result.all)")
        let warnings = result.standardError.split(separator: "\n").filter { $0.hasPrefix("cairn: warning: backup set 'files': notify") }
        #expect(warnings.count == 4, "\(result.standardError)")
        #expect(result.standardError.contains("the command exited with status 5: the pager is down"), "\(result.standardError)")
        #expect(result.standardError.contains("/nonexistent/sendmail exited with status 127"), "\(result.standardError)")
        #expect(result.standardError.contains("http://127.0.0.1:\(gone)/… could not be reached"), "\(result.standardError)")
        #expect(result.standardError.contains("http://127.0.0.1:\(http.port)/… answered HTTP 404"), "\(result.standardError)")
        #expect(!result.standardError.contains("/hook") && !result.standardError.contains("/status/404"), "a URL's path is never shown")
        // The flaky hook answered 503 once, then took the retry.
        let flaky = http.received(atLeast: 3).filter { $0.contains("/flaky/hook") }
        #expect(flaky.count == 2, "\(flaky)")
        // The backup is there, and the job log says what did not get through.
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8)) as? [Any])?.count == 1)
        let logs = workspace.directory.subpath("state/cairn/logs/files")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: logs).first)
        let logged = try json(String(contentsOfFile: logs + "/" + name, encoding: .utf8))
        #expect((logged["notifyFailures"] as? [String])?.count == 4, "\(logged)")
    }

    @Test func aStaleReminderThatDoesNotGetThroughIsTriedAgainLater() throws {
        let scratch = try TemporaryDirectory("cairn-notify")
        let got = scratch.subpath("command")
        try FileManager.default.createDirectory(atPath: got, withIntermediateDirectories: true)
        let flag = scratch.subpath("network-up")
        // Two entries whose channels read alike: each is reminded on its own.
        let workspace = try workspace(
            notify: """
                      - command: "test -f \(flag) && cat > \(got)/one-$CAIRN_EVENT.json"
                        stale-after: 1d
                      - command: "cat > \(got)/two-$CAIRN_EVENT.json"
                        stale-after: 2d
                """,
            extra: "\ntimezone: UTC\n")
        func runDue(_ time: String) throws -> CairnProcess.Output { try workspace.run(["run-due", "--now", time, "-q"]) }
        func sent() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: got)) ?? []).sorted() }
        _ = try runDue("2027-03-01T10:00:00Z")
        // A day without a backup: the first channel is not up.
        let down = try runDue("2027-03-02T10:05:00Z")
        #expect(down.status == 0 && down.standardError.contains("warning: backup set 'files': notify (command"), "\(down.all)")
        #expect(sent().isEmpty)
        #expect(try runDue("2027-03-02T10:30:00Z").all.isEmpty, "not tried again within the hour")
        try Data().write(to: URL(fileURLWithPath: flag))
        _ = try runDue("2027-03-02T11:10:00Z")
        #expect(sent() == ["one-stale.json"], "tried again an hour later, and told once")
        _ = try runDue("2027-03-03T10:05:00Z")
        #expect(sent() == ["one-stale.json", "two-stale.json"], "the second channel's own stale-after")
        _ = try runDue("2027-03-03T12:05:00Z")
        #expect(sent() == ["one-stale.json", "two-stale.json"])
    }

    @Test func anApplyAnsweredNoTellsNobody() throws {
        let scratch = try TemporaryDirectory("cairn-notify")
        let got = scratch.subpath("command")
        try FileManager.default.createDirectory(atPath: got, withIntermediateDirectories: true)
        let workspace = try workspace(notify: "      command: \"cat > \(got)/$CAIRN_EVENT-$CAIRN_OUTCOME.json\"\n")
        let output = try workspace.onTerminal(["apply", "files"], input: "no\n", delay: 2)
        #expect(output.contains("cancelled"), "\(output)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: got)) ?? []).isEmpty, "a person said no: nothing to report")
        #expect(FileManager.default.contents(atPath: workspace.directory.subpath("state/cairn/status/files.json")) == nil)
        let yes = try workspace.onTerminal(["apply", "files"], input: "yes\n", delay: 2)
        #expect(yes.contains("saved"), "\(yes)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: got) == ["finish-success.json"])
    }

    @Test func runDueRemindsOnceForEachStaleSpell() throws {
        let scratch = try TemporaryDirectory("cairn-notify")
        let got = scratch.subpath("command")
        try FileManager.default.createDirectory(atPath: got, withIntermediateDirectories: true)
        let workspace = try workspace(
            notify: """
                      - command: "cat > \(got)/$(date +%s%N)-$CAIRN_EVENT.json"
                        when: success
                        stale-after: 36h
                """,
            extra: """

                    schedules: [nightly]
                timezone: UTC
                schedules: {nightly: {type: daily, at: "01:00"}}
                """)
        var broken = workspace
        broken.environment["CAIRN_KEY"] = "not the key"
        func events() throws -> [String] { try commandReceived(got).map { $0["event"] as? String ?? "?" } }
        func runDue(_ w: Workspace, _ time: String, _ more: [String] = []) throws -> CairnProcess.Output {
            try w.run(["run-due", "--now", time, "-q"] + more)
        }

        #expect(try runDue(workspace, "2027-03-01T10:00:00Z").status == 0)
        #expect(try runDue(workspace, "2027-03-02T01:05:00Z").status == 0)
        #expect(try events() == ["finish"])
        // Then every run fails: after 36 hours without a success, one reminder.
        #expect(try runDue(broken, "2027-03-03T01:05:00Z").status == 1)
        #expect(try events() == ["finish"], "a failure is not in when; 24 hours is not stale yet")
        let dry = try runDue(broken, "2027-03-03T13:10:00Z", ["--dry-run"])
        #expect(dry.standardOutput.contains("files: would remind (command): no successful backup since 2027-03-02 01:05:0"), "\(dry.all)")
        #expect(try events() == ["finish"], "a dry run sends nothing")
        let stale = try runDue(broken, "2027-03-03T13:10:00Z")
        #expect(stale.standardOutput.contains("files: reminding (command): files on "), "\(stale.all)")
        let reminders = try commandReceived(got).filter { $0["event"] as? String == "stale" }
        #expect(reminders.count == 1 && (reminders.first?["last-success"] as? String)?.hasPrefix("2027-03-02T01:05:0") == true, "\(reminders)")
        #expect(reminders.first?["stale-after"] as? String == "1d12h")
        _ = try runDue(broken, "2027-03-04T01:05:00Z")
        _ = try runDue(broken, "2027-03-05T01:05:00Z")
        #expect(try events() == ["finish", "stale"], "one reminder per stale spell")
        // A success ends the spell; the next spell is told again.
        #expect(try runDue(workspace, "2027-03-05T02:10:00Z").status == 0)
        _ = try runDue(broken, "2027-03-06T01:05:00Z")
        _ = try runDue(broken, "2027-03-06T14:20:00Z")
        #expect(try events() == ["finish", "stale", "finish", "stale"])
    }
}
