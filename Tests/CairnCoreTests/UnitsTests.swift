import Foundation
import Testing

@testable import CairnCore

@Suite("Units: sizes, durations, percentages, times and dates")
struct UnitsTests {
    @Test(arguments: [
        ("25MB", UInt64(25_000_000)), ("25MiB", 25 << 20), ("4KiB", 4096), ("1.5GB", 1_500_000_000),
        ("4096", 4096), ("4096B", 4096), ("1TB", 1_000_000_000_000), ("2TiB", 2 << 40), ("0", 0),
    ])
    func parsesSizes(text: String, bytes: UInt64) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["", "MB", "25 MB", "25mb", "1.5B", "-1MB", ".5MB", "5.MB", "1..5MB", "25XB", "1e3"])
    func rejectsMalformedSizes(text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test(arguments: [(UInt64(25_000_000), "25MB"), (4096, "4KiB"), (1 << 20, "1MiB"), (100, "100B"), (1000, "1KB"), (0, "0B")])
    func spellsSizesExactly(bytes: UInt64, text: String) {
        #expect(ByteSize(bytes: bytes).description == text)
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: [("90s", 90), ("15m", 900), ("4h", 14_400), ("3d", 259_200), ("1h30m", 5_400), ("1d2h3m4s", 93_784), ("0s", 0)])
    func parsesDurations(text: String, seconds: Int) {
        #expect(ConfigDuration(parsing: text)?.seconds == seconds)
    }

    @Test(arguments: ["", "15", "m", "4 h", "30m1h", "1h1h", "1.5h", "-5m", "5w", "4H"])
    func rejectsMalformedDurations(text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }

    @Test func durationsPrintCanonically() {
        #expect(ConfigDuration(seconds: 90).description == "1m30s")
        #expect(ConfigDuration(seconds: 14_400).description == "4h")
        #expect(ConfigDuration(seconds: 90_061).description == "1d1h1m1s")
    }

    @Test func parsesPercentages() {
        #expect(Percentage(parsing: "50%")?.value == 50)
        #expect(Percentage(parsing: "12.5%")?.value == 12.5)
        #expect(Percentage(parsing: "50") == nil)
        #expect(Percentage(parsing: "%") == nil)
        #expect(Percentage(parsing: "-5%") == nil)
        #expect(Percentage(12.5).description == "12.5%")
        #expect(Percentage(50).description == "50%")
    }

    @Test(arguments: [("00:00", 0, 0, 0), ("13:00", 13, 0, 0), ("23:59:59", 23, 59, 59), ("07:05", 7, 5, 0)])
    func parsesTimes(text: String, hour: Int, minute: Int, second: Int) {
        #expect(TimeOfDay(parsing: text) == TimeOfDay(hour: hour, minute: minute, second: second))
        #expect(TimeOfDay(parsing: text)?.description == text)
    }

    @Test(arguments: ["24:00", "7:00", "12:60", "12:00:60", "1200", "12:00:00:00", "ab:cd", ""])
    func rejectsMalformedTimes(text: String) {
        #expect(TimeOfDay(parsing: text) == nil)
    }

    @Test func parsesDatesWithCalendarRules() {
        #expect(LocalDate(parsing: "2024-02-29") == LocalDate(year: 2024, month: 2, day: 29))
        #expect(LocalDate(parsing: "2023-02-29") == nil)
        #expect(LocalDate(parsing: "1900-02-29") == nil)
        #expect(LocalDate(parsing: "2000-02-29") != nil)
        #expect(LocalDate(parsing: "2026-04-31") == nil)
        #expect(LocalDate(parsing: "2026-13-01") == nil)
        #expect(LocalDate(parsing: "26-01-01") == nil)
        #expect(LocalDateTime(parsing: "2027-01-01T02:00")?.description == "2027-01-01T02:00")
        #expect(LocalDateTime(parsing: "2027-01-01 02:00") == nil)
    }

    @Test func localTimesBecomeInstantsInTheirZone() throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        let moment = try #require(LocalDateTime(parsing: "2026-07-01T12:00"))
        // 12:00 in Berlin in summer (UTC+2) is 10:00 UTC.
        #expect(moment.instant(in: berlin)?.timeIntervalSince1970 == 1_782_900_000)
    }

    @Test func parsesMonthDayRules() {
        #expect(MonthDay(parsing: "last-weekday") == .rule(.last, .weekday))
        #expect(MonthDay(parsing: "first-monday") == .rule(.first, .specific(.monday)))
        #expect(MonthDay(parsing: "second-weekend") == .rule(.second, .weekend))
        #expect(MonthDay(parsing: "fifth-monday") == nil)
        #expect(MonthDay(parsing: "last") == nil)
        #expect(MonthDay.ruleSpellings.count == 5 * 10)
    }

    @Test func suggestsCloseWords() {
        #expect(Suggestion.closest(to: "destinaton", among: ["destination"]) == "destination")
        #expect(Suggestion.closest(to: "Saturday", among: Weekday.allCases.map(\.rawValue)) == "saturday")
        #expect(Suggestion.closest(to: "retnetion", among: ["retention", "repository"]) == "retention")
        #expect(Suggestion.closest(to: "xyz", among: ["retention", "repository"]) == nil)
        #expect(Suggestion.editDistance("ab", "ba") == 1)
    }
}
