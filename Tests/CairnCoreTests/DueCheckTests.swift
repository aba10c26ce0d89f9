import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Whether run-due runs a set, from what is remembered: pure.
@Suite("Due checks")
struct DueCheckTests {
    func schedule(_ setExtra: String = ", schedules: [n]") throws -> SetSchedule {
        let config = try #require(try ConfigFixture().load("""
            version: 1
            timezone: UTC
            accounts: {nas: {destination: /srv/backup}}
            encryption: {default: {algorithm: none}}
            schedules: {n: {type: daily, at: "01:00"}}
            backup-sets: {s: {account: nas, sources: [/data]\(setExtra)}}
            """).config)
        return SetSchedule(config.backupSets["s"]!, in: config)
    }

    func time(_ text: String) -> Date { try! TimeArgument.parse(text, in: TimeZone(identifier: "UTC")!) }

    @Test func aFiringAfterWhatWasServedIsDueOnce() throws {
        let set = try schedule()
        let due = DueCheck.decide(set, history: .init(servedThrough: time("2027-03-01T10:00:00Z"), lastSuccess: nil), now: time("2027-03-02T01:05:00Z"))
        #expect(due == .due(firing: time("2027-03-02T01:00:00Z"), reason: "its schedule fired at 2027-03-02 01:00:00 +00:00"))
        let served = DueCheck.decide(set, history: .init(servedThrough: time("2027-03-02T01:00:00Z"), lastSuccess: nil), now: time("2027-03-02T05:00:00Z"))
        #expect(served == .notDue(next: time("2027-03-03T01:00:00Z")))
    }

    @Test func stateAheadOfTheClockDoesNotTurnTheScheduleOff() throws {
        // A run recorded in 2030 (a clock that ran fast, or --now in the future): the next
        // firing after now still runs.
        let set = try schedule()
        let decision = DueCheck.decide(set, history: .init(servedThrough: time("2030-01-01T01:00:00Z"), lastSuccess: time("2030-01-01T01:05:00Z")), now: time("2027-03-02T01:05:00Z"))
        #expect(decision == .notDue(next: time("2027-03-03T01:00:00Z")))
        let offline = try schedule(", offline-interval: 24h")
        let future = DueCheck.decide(offline, history: .init(servedThrough: time("2027-03-01T00:00:00Z"), lastSuccess: time("2030-01-01T00:00:00Z")), now: time("2027-03-05T00:00:00Z"))
        #expect(future == .notDue(next: nil), "a success recorded ahead counts as now, not as four days ago")
    }

    @Test func aFailedScheduledRunIsTriedAgainAfterAnHourUntilTheNextFiring() throws {
        let set = try schedule()
        let failed = (firing: time("2027-03-02T01:00:00Z"), end: time("2027-03-02T01:02:00Z"))
        let history = DueCheck.History(servedThrough: failed.firing, lastSuccess: nil, failedFiring: failed)
        #expect(DueCheck.decide(set, history: history, now: time("2027-03-02T01:30:00Z")) == .notDue(next: time("2027-03-03T01:00:00Z")))
        let retry = DueCheck.decide(set, history: history, now: time("2027-03-02T02:05:00Z"))
        #expect(retry == .due(firing: failed.firing, reason: "its run for the firing at 2027-03-02 01:00:00 +00:00 failed at 2027-03-02 01:02:00 +00:00: trying again"))
        // Once the next firing has come, it is that firing's run.
        let next = DueCheck.decide(set, history: history, now: time("2027-03-03T01:10:00Z"))
        #expect(next == .due(firing: time("2027-03-03T01:00:00Z"), reason: "its schedule fired at 2027-03-03 01:00:00 +00:00"))
    }

    @Test func aSetWithoutScheduleOrOfflineIntervalRunsByHandOnly() throws {
        let set = try schedule("")
        #expect(DueCheck.decide(set, history: .init(servedThrough: Date(), lastSuccess: nil), now: Date()) == .unscheduled)
    }
}

@Suite("The crontab block")
struct CronBlockTests {
    let installation = CronInstallation(
        executable: "/usr/local/bin/cairn", config: "/etc/cairn/my 100% config.yaml", everyMinutes: 5, user: "backup",
        variables: [("XDG_STATE_HOME", "/var/state/o'neil $HOME")])

    @Test func otherLinesStayByteForByteCarriageReturnsIncluded() throws {
        let others = "MAILTO=\"\"\r\n# mine\r\n17 3 * * * /bin/true\r\n"
        let installed = try CronInstallation.replacing(in: others, with: installation.crontabBlock)
        #expect(installed.hasPrefix(others))
        #expect(try CronInstallation.block(in: installed) == installation.crontabBlock)
        #expect(try CronInstallation.replacing(in: installed, with: installation.crontabBlock) == installed, "installing again changes nothing")
        #expect(try CronInstallation.replacing(in: installed, with: nil) == others)
        // Without a trailing newline.
        #expect(try CronInstallation.replacing(in: "5 * * * * /bin/true", with: nil) == "5 * * * * /bin/true\n")
    }

    @Test func aDamagedBlockIsRefusedAndNothingIsChanged() throws {
        let block = installation.crontabBlock
        let withoutEnd = block.replacingOccurrences(of: "# END cairn run-due\n", with: "") + "0 3 * * * dbdump\n"
        #expect(throws: CronInstallation.DamagedBlock.self) { try CronInstallation.replacing(in: withoutEnd, with: block) }
        #expect(throws: CronInstallation.DamagedBlock.self) { try CronInstallation.replacing(in: withoutEnd, with: nil) }
        let twice = block + "0 3 * * * dbdump\n" + block
        #expect(throws: CronInstallation.DamagedBlock.self) { try CronInstallation.replacing(in: twice, with: nil) }
        let userLineInside = block.replacingOccurrences(of: "# END", with: "0 3 * * * dbdump\n# END")
        #expect(throws: CronInstallation.DamagedBlock.self) { try CronInstallation.replacing(in: userLineInside, with: nil) }
    }

    @Test func wordsAreQuotedForTheShellCronAndSystemd() {
        let line = installation.crontabBlock.split(separator: "\n")[1]
        #expect(line == #"*/5 * * * * XDG_STATE_HOME='/var/state/o'\''neil $HOME' '/usr/local/bin/cairn' run-due -q -c '/etc/cairn/my 100\% config.yaml'"#)
        let service = installation.systemdService
        #expect(service.contains(#"Environment="XDG_STATE_HOME=/var/state/o'neil $HOME""#), "\(service)")
        #expect(service.contains(#"ExecStart="/usr/local/bin/cairn" run-due -q -c "/etc/cairn/my 100%% config.yaml""#), "\(service)")
        #expect(CronInstallation.unusable("/etc/cairn\n* * * * * evil") && !CronInstallation.unusable("/etc/cairn/ok path"))
    }
}
