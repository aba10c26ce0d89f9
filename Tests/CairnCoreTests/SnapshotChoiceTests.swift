import Foundation
import Testing

@testable import CairnCore

@Suite("Choosing a snapshot by time or id")
struct SnapshotChoiceTests {
    let berlin = TimeZone(identifier: "Europe/Berlin")!

    func seconds(_ text: String, _ zone: TimeZone) throws -> TimeInterval {
        try SnapshotChoice.parseTime(text, in: zone).timeIntervalSince1970
    }

    @Test func timesAreReadInTheConfigsZoneUnlessTheyNameAnOffset() throws {
        // 2026-11-20 14:00 in Berlin (UTC+1 in November) is 13:00 UTC.
        #expect(try seconds("2026-11-20T14:00", berlin) == 1_795_179_600)
        #expect(try seconds("2026-11-20T14:00:30", berlin) == 1_795_179_630)
        #expect(try seconds("2026-11-20T13:00Z", berlin) == 1_795_179_600)
        #expect(try seconds("2026-11-20T15:00+02:00", berlin) == 1_795_179_600)
        #expect(try seconds("2026-11-20T08:00-05:00", berlin) == 1_795_179_600)
    }

    @Test func aDateAloneIsTheEndOfThatDay() throws {
        let end = try seconds("2026-11-20", berlin)
        #expect(end > 1_795_215_600 - 1 && end < 1_795_215_600, "just before midnight Berlin time: \(end)")
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026-11-20T25:00", "2026-11-20T14:00+2", "20261120", ""])
    func badTimesAreRefused(text: String) {
        #expect(throws: SnapshotChoice.Failure.badTime(text)) { try SnapshotChoice.parseTime(text, in: berlin) }
    }

    func record(_ start: Int64, set: String = "docs") throws -> SnapshotRecord {
        SnapshotRecord(
            id: try .random(),
            snapshot: Snapshot(
                set: set, host: "h", user: "u", start: Timestamp(seconds: start, nanoseconds: 0), end: Timestamp(seconds: start + 5, nanoseconds: 0),
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
        #expect(throws: SnapshotChoice.Failure.none("backup set 'empty' has no snapshots yet")) { try SnapshotChoice.latest.pick(from: records, set: "empty") }
    }
}
