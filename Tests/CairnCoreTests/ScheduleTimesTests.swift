import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// When schedules fire: pure tables, the zone's rules from tzdata.
@Suite("Schedule times")
struct ScheduleTimesTests {
    static let here = SourceLocation(file: "cairn.yaml", line: 1, column: 1)
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    let sydney = TimeZone(identifier: "Australia/Sydney")!

    func at(_ text: String) -> TimeOfDay { TimeOfDay(parsing: text)! }
    func schedule(_ kind: Schedule.Kind) -> Schedule { Schedule(name: "s", location: Self.here, kind: kind) }
    func times(_ kinds: [Schedule.Kind], in zone: TimeZone) -> ScheduleTimes { ScheduleTimes(kinds.map(schedule), timeZone: zone) }

    /// An instant from RFC 3339 text.
    func instant(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    func texts(_ dates: [Date]) -> [String] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return dates.map { formatter.string(from: $0) }
    }

    @Test func dailyAtSeveralTimesInTheZone() {
        let daily = times([.daily(at: [at("13:00"), at("01:00")])], in: berlin)
        #expect(texts(daily.next(after: instant("2027-01-10T12:00:00Z"), count: 3)) == [
            "2027-01-11T00:00:00Z", "2027-01-11T12:00:00Z", "2027-01-12T00:00:00Z",
        ])
        // Not at the instant itself.
        #expect(texts(daily.next(after: instant("2027-01-11T00:00:00Z"), count: 1)) == ["2027-01-11T12:00:00Z"])
        #expect(daily.last(atOrBefore: instant("2027-01-11T00:00:00Z")) == instant("2027-01-11T00:00:00Z"))
        #expect(daily.last(atOrBefore: instant("2027-01-10T23:59:59Z")) == instant("2027-01-10T12:00:00Z"))
    }

    @Test func aTimeInTheSpringGapFiresAtTheFirstInstantAfterIt() {
        // Berlin, 2027-03-28: 02:00 CET becomes 03:00 CEST.
        let daily = times([.daily(at: [at("02:30")])], in: berlin)
        #expect(texts(daily.next(after: instant("2027-03-26T12:00:00Z"), count: 3)) == [
            "2027-03-27T01:30:00Z", "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z",
        ])
        // 02:30 and 03:00 are the same instant that day: one firing.
        let both = times([.daily(at: [at("02:30"), at("03:00")])], in: berlin)
        #expect(texts(both.firings(after: instant("2027-03-27T22:00:00Z"), through: instant("2027-03-28T22:00:00Z"))) == ["2027-03-28T01:00:00Z"])
        // Sydney, 2027-10-03: 02:00 AEST becomes 03:00 AEDT.
        let south = times([.daily(at: [at("02:15")])], in: sydney)
        #expect(texts(south.next(after: instant("2027-10-01T00:00:00Z"), count: 3)) == [
            "2027-10-01T16:15:00Z", "2027-10-02T16:00:00Z", "2027-10-03T15:15:00Z",
        ])
    }

    @Test func aTimeThatOccursTwiceFiresOnceAtItsFirstOccurrence() {
        // Berlin, 2027-10-31: 03:00 CEST becomes 02:00 CET; 02:30 occurs at 00:30Z and 01:30Z.
        let daily = times([.daily(at: [at("02:30")])], in: berlin)
        #expect(texts(daily.firings(after: instant("2027-10-30T12:00:00Z"), through: instant("2027-10-31T12:00:00Z"))) == ["2027-10-31T00:30:00Z"])
        // Sydney, 2027-04-04: 03:00 AEDT becomes 02:00 AEST.
        let south = times([.daily(at: [at("02:15")])], in: sydney)
        #expect(texts(south.next(after: instant("2027-04-02T00:00:00Z"), count: 3)) == [
            "2027-04-02T15:15:00Z", "2027-04-03T15:15:00Z", "2027-04-04T16:15:00Z",
        ])
        // Every 30 minutes through the fold: the repeated hour fires once.
        let interval = times([.interval(every: ConfigDuration(seconds: 1800))], in: berlin)
        #expect(texts(interval.firings(after: instant("2027-10-30T23:45:00Z"), through: instant("2027-10-31T02:15:00Z"))) == [
            "2027-10-31T00:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T02:00:00Z",
        ])
    }

    @Test func halfHourGapsAndChangesAtMidnight() {
        // Lord Howe Island, 2027-10-03: 02:00 +10:30 becomes 02:30 +11.
        let lordHowe = times([.daily(at: [at("02:15")])], in: TimeZone(identifier: "Australia/Lord_Howe")!)
        #expect(texts(lordHowe.next(after: instant("2027-10-01T00:00:00Z"), count: 3)) == [
            "2027-10-01T15:45:00Z", "2027-10-02T15:30:00Z", "2027-10-03T15:15:00Z",
        ])
        // Santiago, 2027-09-05: midnight -04 becomes 01:00 -03 (no 00:30 that day).
        let santiago = TimeZone(identifier: "America/Santiago")!
        let spring = times([.daily(at: [at("00:30")])], in: santiago)
        #expect(texts(spring.next(after: instant("2027-09-04T00:00:00Z"), count: 3)) == [
            "2027-09-04T04:30:00Z", "2027-09-05T04:00:00Z", "2027-09-06T03:30:00Z",
        ])
        // 2027-04-04: midnight -03 becomes 23:00 -04 on the 3rd: 23:30 of the 3rd occurs twice.
        let autumn = times([.daily(at: [at("23:30")])], in: santiago)
        #expect(texts(autumn.next(after: instant("2027-04-03T00:00:00Z"), count: 3)) == [
            "2027-04-03T02:30:00Z", "2027-04-04T02:30:00Z", "2027-04-05T03:30:00Z",
        ])
    }

    @Test func intervalsRestartAtLocalMidnight() {
        let utc = TimeZone(identifier: "UTC")!
        let ninety = times([.interval(every: ConfigDuration(seconds: 90 * 60))], in: utc)
        #expect(texts(ninety.next(after: instant("2027-06-01T21:00:00Z"), count: 3)) == [
            "2027-06-01T22:30:00Z", "2027-06-02T00:00:00Z", "2027-06-02T01:30:00Z",
        ])
        let seven = times([.interval(every: ConfigDuration(seconds: 7 * 60))], in: utc)
        #expect(texts(seven.next(after: instant("2027-06-01T23:50:00Z"), count: 3)) == [
            "2027-06-01T23:55:00Z", "2027-06-02T00:00:00Z", "2027-06-02T00:07:00Z",
        ])
        // In Berlin, midnight is 23:00Z in winter.
        let hourly = times([.interval(every: ConfigDuration(seconds: 5 * 3600))], in: berlin)
        #expect(texts(hourly.next(after: instant("2027-01-05T19:00:00Z"), count: 2)) == ["2027-01-05T23:00:00Z", "2027-01-06T04:00:00Z"])
    }

    @Test func monthlyDaysPastAShortMonthsEndFireOnItsLastDay() {
        let utc = TimeZone(identifier: "UTC")!
        let thirtyFirst = times([.monthly(day: .number(31), at: [at("12:00")])], in: utc)
        #expect(texts(thirtyFirst.next(after: instant("2028-01-31T13:00:00Z"), count: 4)) == [
            "2028-02-29T12:00:00Z", "2028-03-31T12:00:00Z", "2028-04-30T12:00:00Z", "2028-05-31T12:00:00Z",
        ])
        let twentyNinth = times([.monthly(day: .number(29), at: [at("06:00")])], in: utc)
        #expect(texts(twentyNinth.next(after: instant("2027-02-01T00:00:00Z"), count: 2)) == ["2027-02-28T06:00:00Z", "2027-03-29T06:00:00Z"])
        #expect(texts(twentyNinth.next(after: instant("2028-02-01T00:00:00Z"), count: 1)) == ["2028-02-29T06:00:00Z"])
    }

    @Test func monthlyRulesPickTheirDay() {
        func day(_ rule: String, _ year: Int, _ month: Int) -> Int? { ScheduleTimes.day(MonthDay(parsing: rule)!, year: year, month: month) }
        #expect(day("last-weekday", 2028, 1) == 31)  // a Monday
        #expect(day("last-weekday", 2028, 4) == 28)  // the 30th is a Sunday
        #expect(day("first-weekend", 2027, 8) == 1)  // starts on a Sunday
        #expect(day("first-weekend", 2027, 5) == 1)  // starts on a Saturday
        #expect(day("first-weekend", 2027, 9) == 4)  // starts on a Wednesday
        #expect(day("second-weekend", 2027, 5) == 2)
        #expect(day("last-weekend", 2027, 9) == 26)
        #expect(day("first-weekday", 2027, 8) == 2)
        #expect(day("fourth-friday", 2027, 10) == 22)
        #expect(day("last-friday", 2027, 10) == 29)
        #expect(day("last-day", 2028, 2) == 29 && day("first-day", 2028, 2) == 1)
        #expect(day("third-monday", 2027, 11) == 15)
        let rule = times([.monthly(day: MonthDay(parsing: "last-sunday")!, at: [at("01:00")])], in: TimeZone(identifier: "UTC")!)
        #expect(texts(rule.next(after: instant("2027-01-01T00:00:00Z"), count: 2)) == ["2027-01-31T01:00:00Z", "2027-02-28T01:00:00Z"])
    }

    @Test func weeklyOnceAndCombinedSchedules() {
        let utc = TimeZone(identifier: "UTC")!
        let weekly = times([.weekly(days: [.friday, .monday], at: [at("08:00")])], in: utc)
        // 2027-06-02 is a Wednesday.
        #expect(texts(weekly.next(after: instant("2027-06-02T00:00:00Z"), count: 3)) == [
            "2027-06-04T08:00:00Z", "2027-06-07T08:00:00Z", "2027-06-11T08:00:00Z",
        ])
        let once = times([.once(at: LocalDateTime(parsing: "2027-07-01T09:30")!)], in: berlin)
        #expect(texts(once.next(after: instant("2027-01-01T00:00:00Z"), count: 5)) == ["2027-07-01T07:30:00Z"])
        #expect(once.next(after: instant("2027-07-01T07:30:00Z"), count: 1).isEmpty)
        #expect(once.last(atOrBefore: instant("2029-01-01T00:00:00Z")) == instant("2027-07-01T07:30:00Z"))
        #expect(once.last(atOrBefore: instant("2027-07-01T07:29:59Z")) == nil)
        // A daily and a weekly at the same time: one firing.
        let both = times([.daily(at: [at("12:00")]), .weekly(days: [.monday], at: [at("12:00"), at("18:00")])], in: utc)
        #expect(texts(both.firings(after: instant("2027-06-06T13:00:00Z"), through: instant("2027-06-08T00:00:00Z"))) == [
            "2027-06-07T12:00:00Z", "2027-06-07T18:00:00Z",
        ])
        #expect(ScheduleTimes([], timeZone: utc).next(after: Date(), count: 3).isEmpty)
    }

    @Test func civilDatesRoundTripAcrossCenturies() {
        for day in stride(from: -800_000, through: 800_000, by: 997) {
            #expect(LocalDate(dayNumber: day).dayNumber == day)
        }
        #expect(LocalDate(dayNumber: 0) == LocalDate(year: 1970, month: 1, day: 1))
        #expect(ScheduleTimes.weekday(ofDay: LocalDate(year: 2027, month: 6, day: 2).dayNumber) == .wednesday)
        #expect(ScheduleTimes.weekday(ofDay: -1) == .wednesday)
    }
}
