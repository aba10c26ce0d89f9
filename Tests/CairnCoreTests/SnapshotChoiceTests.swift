import Foundation
import Testing

@testable import CairnCore

@Suite("Choosing a snapshot by time or id")
struct SnapshotChoiceTests {
    let berlin = TimeZone(identifier: "Europe/Berlin")!

    /// 2026-11-25 10:00 UTC: "today" for times given alone.
    let now = Date(timeIntervalSince1970: 1_796_205_600)

    func seconds(_ text: String, _ zone: TimeZone) throws -> TimeInterval {
        try SnapshotChoice.parseTime(text, in: zone, now: now).timeIntervalSince1970
    }

    /// The end of the span starting at `start` that is `length` seconds long (within a few
    /// microseconds: a Date holds today's times to about a quarter of one).
    func isEnd(_ value: TimeInterval, of start: TimeInterval, length: TimeInterval) -> Bool {
        value < start + length + 0.000_001 && value >= start + length - 0.000_01
    }

    @Test func timesAreReadInTheConfigsZoneUnlessTheyNameAnOffset() throws {
        // 2026-11-20 14:00 in Berlin (UTC+1 in November) is 13:00 UTC: 1_795_179_600.
        #expect(isEnd(try seconds("2026-11-20T14:00", berlin), of: 1_795_179_600, length: 60))
        #expect(isEnd(try seconds("2026-11-20 14:00", berlin), of: 1_795_179_600, length: 60))
        #expect(isEnd(try seconds("2026-11-20T14:00:30", berlin), of: 1_795_179_630, length: 1))
        #expect(isEnd(try seconds("2026-11-20T13:00Z", berlin), of: 1_795_179_600, length: 60))
        #expect(isEnd(try seconds("2026-11-20 13:00:00 UTC", berlin), of: 1_795_179_600, length: 1))
        #expect(isEnd(try seconds("2026-11-20T15:00+02:00", berlin), of: 1_795_179_600, length: 60))
        #expect(isEnd(try seconds("2026-11-20 15:00:00 +0200", berlin), of: 1_795_179_600, length: 1))
        #expect(isEnd(try seconds("2026-11-20T08:00-05:00", berlin), of: 1_795_179_600, length: 60))
        // As error messages print snapshot times: RFC 3339 with nanoseconds.
        #expect(isEnd(try seconds("2026-11-20T13:00:00.050043344Z", berlin), of: 1_795_179_600.050043344, length: 0.000_000_001))
    }

    /// `--at 21:51:19` includes a snapshot that started at 21:51:19.93: a time covers its
    /// whole precision.
    @Test func aTimeCoversItsWholePrecision() throws {
        #expect(isEnd(try seconds("2026-11-20 14:00:05.9", berlin), of: 1_795_179_605.9, length: 0.1))
        let records = [try record(1_795_179_605, nanoseconds: 930_000_000), try record(1_795_179_606)]
        let picked = try SnapshotChoice.at(try SnapshotChoice.parseTime("2026-11-20 14:00:05", in: berlin, now: now)).pick(from: records, set: "docs")
        #expect(picked == records[0])
        let minute = try SnapshotChoice.at(try SnapshotChoice.parseTime("2026-11-20 14:00", in: berlin, now: now)).pick(from: records, set: "docs")
        #expect(minute == records[1])
    }

    @Test func aTimeAloneIsToday() throws {
        // 10:00 UTC on 2026-11-25 is 11:00 in Berlin.
        #expect(isEnd(try seconds("11:00", berlin), of: 1_796_205_600, length: 60))
        #expect(isEnd(try seconds("10:00:00Z", berlin), of: 1_796_205_600, length: 1))
    }

    @Test func aDateAloneIsTheEndOfThatDay() throws {
        let end = try seconds("2026-11-20", berlin)
        #expect(end > 1_795_215_600 - 1 && end < 1_795_215_600, "just before midnight Berlin time: \(end)")
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026-11-20T25:00", "2026-11-20T14:00+2", "20261120", "", "2026-11-20Z", "14:00:61", "14:00:05.", "14:00:05.1234567890"])
    func badTimesAreRefused(text: String) {
        #expect(throws: SnapshotChoice.Failure.badTime(text)) { try SnapshotChoice.parseTime(text, in: berlin, now: now) }
    }

    func record(_ start: Int64, nanoseconds: Int32 = 0, set: String = "docs") throws -> SnapshotRecord {
        SnapshotRecord(
            id: try .random(),
            snapshot: Snapshot(
                set: set, host: "h", user: "u", start: Timestamp(seconds: start, nanoseconds: nanoseconds), end: Timestamp(seconds: start + 5, nanoseconds: 0),
                status: .complete, tree: try .random(), parent: nil, sources: [], statistics: .init()))
    }

    @Test func picksTheNewestAtOrBeforeATimeAndIdsByPrefix() throws {
        let records = [try record(100), try record(200), try record(250, set: "other"), try record(300)]
        #expect(try SnapshotChoice.latest.pick(from: records, set: "docs").snapshot.start.seconds == 300)
        #expect(try SnapshotChoice.at(Date(timeIntervalSince1970: 299)).pick(from: records, set: "docs").snapshot.start.seconds == 200)
        #expect(try SnapshotChoice.at(Date(timeIntervalSince1970: 200)).pick(from: records, set: "docs").snapshot.start.seconds == 200)
        #expect(throws: SnapshotChoice.Failure.self) { try SnapshotChoice.at(Date(timeIntervalSince1970: 99)).pick(from: records, set: "docs") }
        let wanted = records[1]
        #expect(try SnapshotChoice.id(String(wanted.id.hex.prefix(12))).pick(from: records, set: "docs") == wanted)
        #expect(throws: SnapshotChoice.Failure.self) { try SnapshotChoice.id(records[2].id.hex).pick(from: records, set: "docs") }
        // From 4 characters.
        #expect(try SnapshotChoice.id(String(wanted.id.hex.prefix(8))).pick(from: records, set: "docs") == wanted)
        #expect(throws: SnapshotChoice.Failure.self) { try SnapshotChoice.id(String(wanted.id.hex.prefix(3))).pick(from: records, set: "docs") }
        #expect(throws: SnapshotChoice.Failure.self) { try SnapshotChoice.id("zzzz").pick(from: records, set: "docs") }
        #expect(throws: SnapshotChoice.Failure.none("backup set 'empty' has no snapshots yet")) { try SnapshotChoice.latest.pick(from: records, set: "empty") }
    }

    /// A day whose midnight a clock change skips (Cairo moves to summer time at midnight on
    /// Friday 2026-04-24: the day starts at 01:00) ends at the next midnight all the same.
    @Test func aDayWhoseMidnightIsSkippedEndsWhereTheNextDayStarts() throws {
        let cairo = try #require(TimeZone(identifier: "Africa/Cairo"))
        // 2026-04-25 00:00 in Cairo (UTC+3 by then) is 2026-04-24 21:00 UTC: 1_777_064_400.
        #expect(isEnd(try seconds("2026-04-24", cairo), of: 1_777_064_400 - 86_400 + 3600, length: 86_400 - 3600))
    }

    /// Times that file systems allow past year 9999 or before year 1 read back from the form
    /// `--json` and saved plans write.
    @Test func timesOfAnyYearReadBack() throws {
        for seconds: Int64 in [300_000_000_000, -62_200_000_000, 0, 1_796_205_600, 253_402_300_799] {
            let time = Timestamp(seconds: seconds, nanoseconds: 123_456_789)
            #expect(Timestamp(rfc3339: time.description) == time, "\(time.description)")
        }
        #expect(Timestamp(seconds: 300_000_000_000, nanoseconds: 0).description.hasPrefix("11476-"))
        // Digits written by hand from year 0 to 9999, as String(format:) writes them.
        var random = SeededGenerator(state: 5)
        for _ in 0..<20_000 {
            let time = Timestamp(seconds: Int64.random(in: -62_167_219_200...253_402_300_799, using: &random), nanoseconds: Int32.random(in: 0..<1_000_000_000, using: &random))
            var clock = time_t(time.seconds)
            var parts = tm()
            gmtime_r(&clock, &parts)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
                Int(parts.tm_min), Int(parts.tm_sec), Int(time.nanoseconds))
            #expect(time.description == expected)
        }
        #expect(Timestamp(rfc3339: "2026-11-29T19:35:12Z") == Timestamp(seconds: 1_795_980_912, nanoseconds: 0))
        #expect(Timestamp(rfc3339: "2026-11-29T19:35:12.5Z")?.nanoseconds == 500_000_000)
        for bad in ["2026-11-29", "2026-13-01T00:00:00Z", "20x6-11-29T19:35:12Z", "2026-11-29T19:35:12.Z", "2026-11-29T19:35:12+01:00"] {
            #expect(Timestamp(rfc3339: bad) == nil, "\(bad)")
        }
    }
}
