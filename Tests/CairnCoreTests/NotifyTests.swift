import Foundation
import Testing

@testable import CairnCore

@Suite("Notifications: config, messages, who gets what")
struct NotifyTests {
    func load(_ notify: String) throws -> ConfigLoader.Result {
        try ConfigFixture().load(preamble + "backup-sets:\n  s:\n    account: nas\n    sources: [/x]\n    notify:\n" + notify)
    }

    @Test func readsEachChannelInShortAndLongForm() throws {
        let result = try load("""
                  - command: "logger -t cairn"
                  - email: ops@example.com
                    when: [failure, problems]
                    stale-after: 3d
                  - email: {to: [a@example.com, b@example.org], from: cairn@example.com, sendmail: /usr/bin/msmtp}
                    timeout: 30s
                  - webhook: https://hooks.example.com/T0/secret
                    when: success
                  - webhook: {url: {env: HC_URL}, style: healthchecks}
            """)
        let notify = try #require(result.config?.backupSets["s"]?.notify, "\(result.errorMessages)")
        #expect(notify.count == 5)
        #expect(notify[0].when == Notify.Outcome.allCases && notify[0].timeout == Notify.defaultTimeout && notify[0].staleAfter == nil)
        guard case .email(let short) = notify[1].channel, case .email(let long) = notify[2].channel else {
            Issue.record("not e-mail: \(notify)")
            return
        }
        #expect(short.to == ["ops@example.com"] && short.from == nil && short.sendmail == "/usr/sbin/sendmail")
        #expect(notify[1].when == [.failure, .problems] && notify[1].staleAfter == ConfigDuration(seconds: 3 * 86_400))
        #expect(long.to == ["a@example.com", "b@example.org"] && long.from == "cairn@example.com" && long.sendmail == "/usr/bin/msmtp")
        #expect(notify[2].timeout == ConfigDuration(seconds: 30))
        #expect(notify[3].when == [.success])
        #expect(notify[3].channelDescription == "webhook https://hooks.example.com/…", "a webhook's path is often its token")
        #expect(notify[4].pingsEveryJob && notify[4].channelDescription == "webhook {env: HC_URL}")
        // validate --show prints a config that loads to the same entries.
        let rendered = result.config!.normalized.yaml()
        let reloaded = try ConfigFixture().load(rendered)
        let again = try #require(reloaded.config?.backupSets["s"]?.notify, "\(reloaded.errorMessages)\n\(rendered)")
        #expect(again.map(\.channelDescription) == notify.map(\.channelDescription))
        #expect(again.map(\.when) == notify.map(\.when) && again.map(\.staleAfter) == notify.map(\.staleAfter))
    }

    @Test(arguments: [
        ("  {command: a, email: b@example.com}\n", "11:7 backup set 's': notify must have exactly one channel: command, email or webhook (found command and email; a list of notify entries sends to several)"),
        ("  {when: [failure]}\n", "11:7 backup set 's': notify must have exactly one channel: command, email or webhook (found none; a list of notify entries sends to several)"),
        ("  {command: a, on: [failure]}\n", "11:20 backup set 's': notify: the outcomes to send go under 'when:' ('on' means true in YAML 1.1, so cairn does not use it)"),
        ("  {command: a, when: [failed]}\n", "11:27 backup set 's': notify: when must be one of failure, problems, success, found 'failed'"),
        ("  {command: a, when: []}\n", "11:26 backup set 's': notify: when is an empty list: name failure, problems or success"),
        ("  {command: a, stale-after: 10m}\n", "11:33 backup set 's': notify: stale-after must be at least 1h (how long without a successful backup before a reminder), found 10m"),
        ("  {email: \"ops@example.com\\nBcc: all@example.com\"}\n", "11:15 backup set 's': notify: email: to: 'ops@example.com?Bcc: all@example.com' is not a plain e-mail address (name@example.com, without a display name)"),
        ("  {email: \"Ops <ops@example.com>\"}\n", "11:15 backup set 's': notify: email: to: 'Ops <ops@example.com>' is not a plain e-mail address (name@example.com, without a display name)"),
        ("  {email: -oQ/tmp@example.com}\n", "11:15 backup set 's': notify: email: to: '-oQ/tmp@example.com' is not a plain e-mail address (name@example.com, without a display name)"),
        ("  {webhook: ftp://example.com/x}\n", "11:17 backup set 's': notify: webhook: url must be an http:// or https:// URL, found 'ftp://example.com/…'"),
        ("  {webhook: \"https://user:pw@example.com/x\"}\n", "11:17 backup set 's': notify: webhook: url must not carry a user or password (use url: {env: VAR} to keep a secret URL out of the config)"),
        ("  {webhook: {url: https://hc-ping.com/u, style: healthchecks}, when: [failure]}\n", "11:68 backup set 's': notify: when does not go with style healthchecks: every job pings, so healthchecks itself sees failures and missed runs"),
        ("  []\n", "11:7 backup set 's': notify is an empty list: name a channel (command, email or webhook), or remove the key"),
        ("  - {command: a, timeout: 2h}\n", "11:31 backup set 's': notify #1: timeout must be from 1s to 1h, found 2h"),
    ])
    func refusesWhatCannotBeSentSafely(notify: String, expected: String) throws {
        let result = try load("    " + notify)
        #expect(result.config == nil)
        #expect(result.located == [expected], "\(result.located)")
    }

    @Test func validateNoLongerCallsNotifyUnbuilt() throws {
        let result = try load("      command: cat\n")
        #expect(result.config != nil && !result.warningMessages.contains { $0.contains("notify") }, "\(result.warningMessages)")
    }

    func report(status: String, problems: [JobReport.ProblemRecord] = [], drift: [String] = [], host: String = "laptop") -> JobReport {
        var report = JobReport.failedToStart(
            set: "docs", command: "run-due", host: host, at: Date(timeIntervalSince1970: 1_800_000_000), failure: "the disk is full")
        report.status = status
        report.problems = problems
        report.drift = drift
        if status != "failed" { report.failure = nil }
        return report
    }

    @Test func outcomesCountAsWhenNamesThem() {
        #expect(Notify.Outcome(report(status: "complete")) == .success)
        #expect(Notify.Outcome(report(status: "no changes")) == .success)
        #expect(Notify.Outcome(report(status: "complete", drift: ["/a"])) == .problems)
        #expect(Notify.Outcome(report(status: "incomplete")) == .problems)
        #expect(Notify.Outcome(report(status: "partial")) == .problems)
        #expect(Notify.Outcome(report(status: "failed")) == .failure)
        #expect(Notify.Outcome(report(status: "cancelled")) == .failure)
    }

    @Test func eachEntryGetsWhatItAsksFor() throws {
        let result = try load("""
                  - {command: a, when: failure}
                  - {command: b, stale-after: 1d}
                  - {webhook: {url: "https://hc-ping.com/u", style: healthchecks}}
            """)
        let notify = try #require(result.config?.backupSets["s"]?.notify)
        let failed = Notification.finish(report(status: "failed"), exitStatus: 1)
        let fine = Notification.finish(report(status: "complete"), exitStatus: 0)
        let start = Notification.start(set: "docs", host: "laptop", command: "backup")
        let stale = Notification.stale(set: "docs", host: "laptop", lastSuccess: nil, staleAfter: ConfigDuration(seconds: 86_400))
        #expect(notify.map { Notifier.wants($0, failed) } == [true, true, true])
        #expect(notify.map { Notifier.wants($0, fine) } == [false, true, true])
        #expect(notify.map { Notifier.wants($0, start) } == [false, false, true], "only healthchecks-style pings hear of starts")
        #expect(notify.map { Notifier.wants($0, stale) } == [false, true, false])
        var verify = report(status: "complete")
        verify.command = "verify"
        let verified = Notification.finish(verify, exitStatus: 0)
        #expect(notify.map { Notifier.wants($0, verified) } == [false, true, false], "a verify does not ping healthchecks: it would hide failing backups")
        #expect(verified.summary == "docs on laptop: verify found no problems")
        #expect(Notifier.appending("start", to: "https://hc-ping.com/abc/") == "https://hc-ping.com/abc/start")
        #expect(Notifier.appending("0", to: "https://hc.example.com/ping/abc?create=1") == "https://hc.example.com/ping/abc/0?create=1")
    }

    @Test func anEmailCannotBeMadeToCarryAHeaderOrARecipient() throws {
        let hostile = "/home/a\r\nBcc: all@example.com\r\n\r\nforged.txt"
        let notification = Notification.finish(
            report(status: "incomplete", problems: [JobReport.ProblemRecord(path: hostile, message: "permission denied")], host: "pc\nX-Evil: 1"),
            exitStatus: 3)
        let email = Notify.Email(to: ["ops@example.com"], from: "cairn@example.com", sendmail: "/usr/sbin/sendmail")
        let message = EmailMessage(notification, email: email, zone: TimeZone(identifier: "UTC")!, date: Date(timeIntervalSince1970: 1_800_000_000), messageID: "x@cairn.pc")
        let text = message.text
        let (head, body) = try #require(text.range(of: "\n\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) })
        let headers = head.split(separator: "\n").map(String.init)
        #expect(headers.allSatisfy { !$0.hasPrefix("Bcc") && !$0.hasPrefix("X-Evil") }, "\(headers)")
        #expect(headers.contains("To: ops@example.com") && headers.contains("From: cairn@example.com"))
        #expect(headers.contains("Subject: [cairn] docs on pc?X-Evil: 1: backup incomplete: 1 problem"), "\(headers)")
        #expect(headers.contains("Date: Fri, 15 Jan 2027 08:00:00 +0000"))
        #expect(headers.contains("X-Cairn-Outcome: problems"))
        // Quoted-printable: short lines, only printable ASCII, and decoding gives the text back.
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.allSatisfy { $0.utf8.count <= 76 && $0.utf8.allSatisfy { $0 >= 32 && $0 < 127 } }, "\(lines)")
        let decoded = Self.decodeQuotedPrintable(body)
        #expect(decoded.contains("/home/a??Bcc: all@example.com????forged.txt: permission denied"), "\(decoded)")
        #expect(decoded.contains("Status:    incomplete") && decoded.contains("Problems (1):"), "\(decoded)")
    }

    @Test func nonASCIISubjectsAreEncodedWordsAndLongLinesSoftBreak() {
        let subject = EmailMessage.headerText("docs on Zürich-Büro: backup failed " + String(repeating: "é", count: 40))
        #expect(subject.hasPrefix("=?utf-8?B?") && subject.unicodeScalars.allSatisfy { $0.value < 127 })
        let words = subject.components(separatedBy: "\n ").map { $0.dropFirst(10).dropLast(2) }
        let back = words.map { String(decoding: Data(base64Encoded: String($0)) ?? Data(), as: UTF8.self) }.joined()
        #expect(back == "docs on Zürich-Büro: backup failed " + String(repeating: "é", count: 40))
        let long = String(repeating: "a=b ", count: 60) + "end "
        let encoded = EmailMessage.quotedPrintable(long)
        #expect(encoded.split(separator: "\n").allSatisfy { $0.count <= 76 }, "\(encoded)")
        #expect(encoded.hasSuffix("end=20"), "a space at a line's end is encoded: \(encoded)")
        #expect(Self.decodeQuotedPrintable(encoded) == long)
    }

    static func decodeQuotedPrintable(_ text: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(text.replacingOccurrences(of: "=\n", with: "").utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "="), index + 2 < source.count + 0, let value = UInt8(String(decoding: source[index + 1...index + 2], as: UTF8.self), radix: 16) {
                bytes.append(value)
                index += 3
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite("Metrics file: Prometheus text format")
struct MetricsFileTests {
    @Test func rendersGaugesWithHelpTypeAndEscapedLabels() {
        var status = SetStatus(set: "a\"b\\c", host: "h")
        status.lastSuccess = "2027-03-02T01:05:00Z"
        status.nextFiring = "2027-03-03T02:00:00+01:00"
        status.lastJob = SetStatus.Job(
            job: "j", command: "backup", start: "2027-03-02T01:00:00Z", end: "2027-03-02T01:05:00Z", durationSeconds: 300.25,
            status: "incomplete", snapshot: nil, files: 10, bytes: 1 << 40, bytesRead: 7, bytesStored: 3, problems: 2, failure: nil)
        let text = MetricsFile.render([status], written: Date(timeIntervalSince1970: 1_804_035_900))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("cairn_last_success_timestamp_seconds{set=\"a\\\"b\\\\c\"} 1803949500"), "\(text)")
        #expect(lines.contains("cairn_next_firing_timestamp_seconds{set=\"a\\\"b\\\\c\"} 1804035600"), "\(text)")
        #expect(lines.contains("cairn_last_job_duration_seconds{set=\"a\\\"b\\\\c\"} 300.250"))
        #expect(lines.contains("cairn_last_job_success{set=\"a\\\"b\\\\c\",status=\"incomplete\"} 0"))
        #expect(lines.contains("cairn_last_job_bytes{set=\"a\\\"b\\\\c\"} 1099511627776"))
        #expect(!text.contains("cairn_last_failure_timestamp_seconds"), "a family without samples is left out")
        // Every family: HELP, then TYPE, then its samples.
        for (index, line) in lines.enumerated() where line.hasPrefix("# HELP ") {
            let name = line.split(separator: " ")[2]
            #expect(lines[index + 1] == "# TYPE \(name) gauge")
            #expect(lines[index + 2].hasPrefix(String(name)))
        }
        #expect(text.hasSuffix("cairn_metrics_written_timestamp_seconds 1804035900\n"))
    }
}

extension MetricsFileTests {
    @Test func oneFileOfAConfigSetsTheMetricsFile() throws {
        let fixture = try ConfigFixture()
        let result = try fixture.loadDirectory([
            "10-base.yaml": preamble + "metrics-file: /srv/metrics/cairn.prom\n",
            "20-more.yaml": "version: 1\nmetrics-file: /srv/metrics/other.prom\n",
        ])
        #expect(result.errorMessages.contains { $0.hasPrefix("metrics-file is already set at ") && $0.hasSuffix("; it may appear in one file only") }, "\(result.errorMessages)")
        let single = try ConfigFixture().load(preamble + "metrics-file: ./cairn.txt\n")
        #expect(single.config?.metricsFile?.value.hasSuffix("/cairn.txt") == true, "made absolute against the config's folder")
        #expect(single.warningMessages.contains("metrics-file: node_exporter's textfile collector reads only files ending in .prom"), "\(single.warningMessages)")
    }
}

@Suite("Scheduled verify: config")
struct VerifyScheduleConfigTests {
    @Test func readsTheScheduleAndTheShareAndCountsSlices() throws {
        let yaml = preamble + """
            schedules: {weekly: {type: weekly, days: [sunday], at: "03:00"}}
            backup-sets:
              a: {account: nas, sources: [/x], verify: {schedule: weekly, read-data: 10%}}
              b: {account: nas, sources: [/y], verify: {schedule: weekly, read-data: 30%}}
              c: {account: nas, sources: [/z], verify: {schedule: weekly}}
            """
        let config = try #require(try ConfigFixture().load(yaml).config)
        #expect(config.backupSets["a"]?.verify?.slices == 10 && config.backupSets["b"]?.verify?.slices == 4)
        #expect(config.backupSets["c"]?.verify?.readData == nil && config.backupSets["c"]?.verify?.slices == nil)
        #expect(config.backupSets.values.allSatisfy { $0.needsRunDue })
    }

    @Test func refusesAnUnknownScheduleAndAShareOutOfRange() throws {
        let yaml = preamble + """
            schedules: {weekly: {type: weekly, days: [sunday], at: "03:00"}}
            backup-sets:
              a: {account: nas, sources: [/x], verify: {schedule: weekli}}
              b: {account: nas, sources: [/y], verify: {schedule: weekly, read-data: 0%}}
              c: {account: nas, sources: [/z], verify: {read-data: 10%}}
            """
        let result = try ConfigFixture().load(yaml)
        #expect(result.config == nil)
        #expect(result.errorMessages.contains("backup set 'a': verify refers to schedule 'weekli', which is not defined (did you mean 'weekly'?)"), "\(result.errorMessages)")
        #expect(result.errorMessages.contains("backup set 'b': verify: read-data must be a percentage above 0% and at most 100% (the share of the packs each run reads), found '0%'"), "\(result.errorMessages)")
        #expect(result.errorMessages.contains("backup set 'c': verify is missing the required key 'schedule'"), "\(result.errorMessages)")
    }
}

extension NotifyTests {
    @Test func slicesSplitPackNamesIntoEqualRangesThatCoverEachOnce() throws {
        let ids = try (0..<400).map { _ in try ObjectID.random() }
        for count in [1, 2, 3, 10] {
            let slices = (0..<count).map { Verifier.Slice($0, of: count) }
            for id in ids { #expect(slices.filter { $0.contains(id) }.count == 1) }
        }
        let halves = (0..<2).map { half in ids.filter(Verifier.Slice(half, of: 2).contains).count }
        #expect(halves.allSatisfy { $0 > 140 }, "hash names spread evenly: \(halves)")
    }
}
