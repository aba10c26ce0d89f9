import Foundation
import Testing

@testable import CairnCore

@Suite("Loading a valid config into the model")
struct ConfigLoadingTests {
    let full = """
        version: 1
        timezone: Europe/Berlin
        accounts:
          nas: {destination: ./backups}
          usb: {destination: "file:///media/usb//cairn/"}
        encryption:
          default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}
          clear: {algorithm: none}
        filters:
          office:
            top: ~/Documents
            apply-to: [files, directories]
            match: ends-with
            patterns: ["*.doc", "*.xls"]
            mode: include
            others: exclude
        schedules:
          nightly: {type: daily, at: [13:00, "00:00"], max-duration: 4h}
          saturday: {type: weekly, days: [saturday, monday, saturday], at: "22:00"}
          month-end: {type: monthly, day: last-weekday, at: "23:30"}
          fifteenth: {type: monthly, day: 15, at: "02:00"}
          new-year: {type: once, at: "2027-01-01T02:00"}
          often: {type: interval, every: 15m}
        retention:
          short: {keep-days: 30}
          jobs: {keep-jobs: 10}
          tape:
            remove-overlap: true
            keep:
              - {every: day, copies: 7}
              - {every: week, day: saturday, copies: 4}
              - {every: month, day: last, copies: 3}
              - {every: quarter, day: 1, months: [february, 5, august, 11], copies: 4}
              - {every: year, date: "01-01", copies: 7}
              - {every: custom, dates: [2026-06-30, "2025-12-31"]}
        backup-sets:
          documents:
            account: nas
            host: on
            sources: [~/Documents, "${DATA}/shared/../docs"]
            exclude: [~/Documents/tmp]
            filters: [office]
            schedules: [nightly, saturday]
            retention: tape
            compression: zstd:19
            in-file-delta:
              mode: differential
              block-size: 16KiB
              min-size: 100MiB
              max-deltas: off
              max-delta-ratio: 30%
              full-on: [sunday, {day: 1}]
            commands:
              pre: [{name: dump, run: "pg_dump app", cwd: /var/tmp, timeout: 10m, env: {PGPORT: 5432, MODE: yes}}]
              post: [{name: tidy, run: true, on-failure: continue}]
            follow-symlinks: true
            permissions: false
            local-copy: /mnt/copy
            notify: {command: "mail me"}
          minimal:
            account: usb
            sources: [/etc]
        """

    @Test func readsEveryKindOfDefinition() throws {
        let fixture = try ConfigFixture()
        let result = try fixture.load(full)
        #expect(result.errorMessages == [])
        let config = try #require(result.config)
        #expect(config.timeZone.identifier == "Europe/Berlin")
        #expect(config.accounts["nas"]?.destination == .localFolder(fixture.directory.path + "/backups"))
        #expect(config.accounts["usb"]?.destination == .localFolder("/media/usb/cairn"))
        #expect(config.encryption["default"]?.key?.source == .environment("CAIRN_KEY"))
        #expect(config.encryption["clear"]?.algorithm == EncryptionProfile.Algorithm.none)
        #expect(config.encryption["clear"]?.key == nil)

        let filter = try #require(config.filters["office"])
        #expect(filter.top == "/home/tester/Documents")
        #expect(filter.applyTo == [.files, .directories])
        #expect(filter.match == .endsWith && filter.mode == .include && filter.others == .exclude)
        #expect(filter.patterns == ["*.doc", "*.xls"])

        #expect(config.schedules["nightly"]?.kind == .daily(at: [TimeOfDay(hour: 0, minute: 0), TimeOfDay(hour: 13, minute: 0)]))
        #expect(config.schedules["nightly"]?.maxDuration == ConfigDuration(seconds: 14_400))
        #expect(config.schedules["saturday"]?.kind == .weekly(days: [.monday, .saturday], at: [TimeOfDay(hour: 22, minute: 0)]))
        #expect(config.schedules["month-end"]?.kind == .monthly(day: .rule(.last, .weekday), at: [TimeOfDay(hour: 23, minute: 30)]))
        #expect(config.schedules["fifteenth"]?.kind == .monthly(day: .number(15), at: [TimeOfDay(hour: 2, minute: 0)]))
        #expect(config.schedules["often"]?.kind == .interval(every: ConfigDuration(seconds: 900)))

        #expect(config.retention["short"]?.kind == .keepDays(30))
        #expect(config.retention["jobs"]?.kind == .keepJobs(10))
        guard case .advanced(let removeOverlap, let rules) = config.retention["tape"]?.kind else {
            Issue.record("tape is not an advanced policy")
            return
        }
        #expect(removeOverlap)
        #expect(rules.map(\.frequency) == [
            .day, .week(.saturday), .month(.last), .quarter(.number(1), months: [2, 5, 8, 11]), .year(month: 1, day: 1),
            .custom(dates: [LocalDate(year: 2025, month: 12, day: 31), LocalDate(year: 2026, month: 6, day: 30)]),
        ])
        #expect(rules.map(\.copies) == [7, 4, 3, 4, 7, nil])

        let set = try #require(config.backupSets["documents"])
        #expect(set.repository == "documents")
        #expect(set.host?.value == "on", "on is a plain word, not a boolean")
        #expect(set.sources.map(\.value) == ["/home/tester/Documents", "/data/docs"])
        #expect(set.exclude.map(\.value) == ["/home/tester/Documents/tmp"])
        #expect(set.compression == Compression(algorithm: .zstd, level: 19))
        #expect(set.inFileDelta.mode == .differential)
        #expect(set.inFileDelta.blockSize == .fixed(ByteSize(bytes: 16_384)))
        #expect(set.inFileDelta.minSize == ByteSize(bytes: 100 << 20))
        #expect(set.inFileDelta.maxDeltas == nil)
        #expect(set.inFileDelta.maxDeltaRatio == Percentage(30))
        #expect(set.inFileDelta.fullOn == [.weekday(.sunday), .dayOfMonth(1)])
        #expect(set.commands.pre.first?.environment.map(\.value) == ["5432", "yes"])
        #expect(set.commands.pre.first?.timeout == ConfigDuration(seconds: 600))
        #expect(set.commands.post.first?.run == "true")
        #expect(set.commands.post.first?.onFailure == .continue)
        #expect(set.followSymlinks && !set.permissions)
        #expect(set.localCopy?.path.value == "/mnt/copy" && set.localCopy?.only == false)
        guard case .command(let command) = set.notify.first?.channel else {
            Issue.record("notify is not one command: \(set.notify)")
            return
        }
        #expect(command == "mail me" && set.notify.count == 1)
        #expect(set.notify.first?.when == Notify.Outcome.allCases, "every report by default")
    }

    @Test func fillsInDefaults() throws {
        let result = try ConfigFixture().load(full)
        let set = try #require(result.config?.backupSets["minimal"])
        #expect(set.encryption.value == "default")
        #expect(set.compression == .default)
        #expect(set.inFileDelta.mode == .off)
        #expect(set.followSymlinks == false)
        #expect(set.permissions == true)
        #expect(set.host == nil && set.retention == nil && set.localCopy == nil && set.notify.isEmpty)
        #expect(set.commands.pre.isEmpty && set.commands.post.isEmpty)
    }

    @Test func inFileDeltaDefaultsFollowTheGuide() throws {
        let result = try ConfigFixture().load(preamble + "backup-sets:\n  s: {account: nas, sources: [/x], in-file-delta: {}}\n")
        let delta = try #require(result.config?.backupSets["s"]?.inFileDelta)
        #expect(delta == InFileDelta(mode: .incremental))
        #expect(delta.blockSize == .auto && delta.minSize == ByteSize(bytes: 25_000_000))
        #expect(delta.maxDeltas == 100 && delta.maxDeltaRatio == Percentage(50))
    }

    @Test func warnsAboutNoFeatureAsNotBuilt() throws {
        let result = try ConfigFixture().load(full)
        #expect(!result.warningMessages.contains { $0.contains("not built yet") }, "\(result.warningMessages)")
    }

    @Test func warnsAboutAOnceScheduleInThePast() throws {
        var fixture = try ConfigFixture()
        let yaml = preamble + "schedules:\n  ny: {type: once, at: \"2027-01-01T02:00\"}\n"
        #expect(try fixture.load(yaml).warningMessages.allSatisfy { !$0.contains("in the past") })
        fixture.now = Date(timeIntervalSince1970: 1_830_000_000)  // 2027-12
        let warnings = try fixture.load(yaml).warningMessages
        #expect(warnings.contains { $0.contains("2027-01-01T02:00 is in the past") })
    }

    @Test func sourcesAreCheckedOnlyOnTheSetsHost() throws {
        let yaml = preamble + """
            backup-sets:
              here: {account: nas, sources: [/nonexistent-cairn-source]}
              elsewhere: {account: nas, host: otherhost, sources: [/nonexistent-cairn-source], repository: other}
            """
        let warnings = try ConfigFixture().load(yaml).warningMessages.filter { $0.contains("does not exist") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("'here'") == true)
    }

    @Test func warnsAboutPathsThatCannotHaveAnEffect() throws {
        let yaml = preamble + """
            filters:
              elsewhere: {top: /opt, match: contains, patterns: [x], mode: exclude}
            backup-sets:
              s: {account: nas, sources: [/tmp, /tmp/inner, /tmp], exclude: [/var/cache], filters: [elsewhere]}
            """
        let warnings = try ConfigFixture().load(yaml).warningMessages
        #expect(warnings.contains { $0.contains("/tmp/inner is inside the source /tmp") })
        #expect(warnings.contains { $0.contains("/tmp is listed twice") })
        #expect(warnings.contains { $0.contains("/var/cache is not inside any source") })
        #expect(warnings.contains { $0.contains("filter 'elsewhere' applies under /opt") })
    }

    @Test func theConfigPathComesFromTheFlagThenTheEnvironment() throws {
        var fixture = try ConfigFixture()
        #expect(fixture.loader.configPath(explicit: "x.yaml") == "x.yaml")
        #expect(fixture.loader.configPath(explicit: nil) == "cairn.yaml")
        fixture.environment["CAIRN_CONFIG"] = "/etc/cairn"
        #expect(fixture.loader.configPath(explicit: nil) == "/etc/cairn")
        #expect(fixture.loader.configPath(explicit: "x.yaml") == "x.yaml")
    }

    @Test func choosesTheSetsOfAHost() throws {
        let yaml = preamble + """
            backup-sets:
              any: {account: nas, sources: [/a]}
              mine: {account: nas, host: testhost, sources: [/b]}
              theirs: {account: nas, host: other, sources: [/c]}
            """
        let config = try #require(try ConfigFixture().load(yaml).config)
        #expect(config.backupSets(forHost: "testhost").map(\.name) == ["any", "mine"])
    }
}
