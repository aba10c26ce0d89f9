import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Retention: which snapshots a policy keeps, and why")
struct RetentionTests {
    let utc = TimeZone(identifier: "UTC")!
    let here = SourceLocation(file: "test.yaml", line: 1, column: 1)

    func rule(_ frequency: RetentionRule.Frequency, _ copies: Int?) -> RetentionRule {
        RetentionRule(frequency: frequency, copies: copies, location: here)
    }

    /// The user guide's tape rotation (5.13).
    var tapeRotation: [RetentionRule] {
        [
            rule(.day, 7), rule(.week(.saturday), 4), rule(.month(.number(1)), 3),
            rule(.quarter(.number(1), months: RetentionRule.defaultQuarterMonths), 4), rule(.year(month: 1, day: 1), 7),
        ]
    }

    func date(_ text: String, hour: Int = 0, zone: TimeZone? = nil) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone ?? utc
        let parts = text.split(separator: "-").map { Int($0)! }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: hour))!
    }

    /// One job a day at `hour` from `from` up to, not including, `to`.
    func daily(from: String, to: String, hour: Int = 0, zone: TimeZone? = nil) -> [RetentionCandidate] {
        var result: [RetentionCandidate] = []
        var day = date(from, hour: hour, zone: zone)
        let end = date(to, zone: zone)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone ?? utc
        while day < end {
            result.append(RetentionCandidate(id: "\(result.count)", time: day))
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        return result
    }

    func keptDays(_ verdicts: [RetentionVerdict], zone: TimeZone? = nil) -> [String] {
        let days = DayCalendar(timeZone: zone ?? utc)
        return verdicts.filter(\.keep).map { days.date(of: $0.time).description }
    }

    @Test func theGuidesExampleKeeps22SnapshotsAnd11WithoutOverlap() {
        let history = daily(from: "1999-01-01", to: "2006-01-17")
        let now = date("2006-01-17")
        let plain = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: tapeRotation), timeZone: utc).evaluate(history, now: now)
        #expect(keptDays(plain) == [
            "2000-01-01", "2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01", "2005-01-01", "2005-04-01", "2005-07-01",
            "2005-10-01", "2005-11-01", "2005-12-01", "2005-12-24", "2005-12-31", "2006-01-01", "2006-01-07", "2006-01-10",
            "2006-01-11", "2006-01-12", "2006-01-13", "2006-01-14", "2006-01-15", "2006-01-16",
        ])
        let overlap = RetentionEvaluation(policy: .advanced(removeOverlap: true, rules: tapeRotation), timeZone: utc).evaluate(history, now: now)
        #expect(keptDays(overlap) == [
            "2000-01-01", "2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01", "2005-01-01", "2006-01-01", "2006-01-07",
            "2006-01-14", "2006-01-15", "2006-01-16",
        ])
        let byDay = Dictionary(uniqueKeysWithValues: overlap.map { (DayCalendar(timeZone: utc).date(of: $0.time).description, $0.reason) })
        #expect(byDay["2006-01-07"] == "kept: weekly 2 of 4 (2006-01-07)")
        #expect(byDay["2006-01-13"] == "expired: daily, overlapped by weekly 2006-01-14")
        #expect(byDay["2005-12-24"] == "expired: weekly, overlapped by monthly 2006-01-01")
        #expect(byDay["2006-01-16"] == "kept: daily 1 of 7 (2006-01-16); latest snapshot")
        #expect(byDay["2005-06-15"] == "expired: no rule keeps it")
    }

    /// The FAQ's example (2.33) under the guide's rule: 13 snapshots without overlap removal (the
    /// FAQ counts 14, 14 Jan twice), and 7 with it: the FAQ's 6 and 7 Jan, which is newer than
    /// the newest monthly snapshot (1 Jan), so the guide's rule keeps it.
    @Test func theFAQsExampleUnderTheGuidesRule() {
        let rules = [rule(.day, 7), rule(.week(.saturday), 4), rule(.month(.number(1)), 3)]
        let history = daily(from: "2005-01-01", to: "2006-01-17")
        let now = date("2006-01-17")
        let plain = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: rules), timeZone: utc).evaluate(history, now: now)
        #expect(keptDays(plain).count == 13)
        let overlap = RetentionEvaluation(policy: .advanced(removeOverlap: true, rules: rules), timeZone: utc).evaluate(history, now: now)
        #expect(keptDays(overlap) == ["2005-11-01", "2005-12-01", "2006-01-01", "2006-01-07", "2006-01-14", "2006-01-15", "2006-01-16"])
    }

    @Test func todayCountsOnceAJobRanToday() {
        let evaluation = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [rule(.day, 2)]), timeZone: utc)
        let before = daily(from: "2006-01-01", to: "2006-01-17", hour: 9)
        #expect(keptDays(evaluation.evaluate(before, now: date("2006-01-17", hour: 8))) == ["2006-01-15", "2006-01-16"])
        let after = daily(from: "2006-01-01", to: "2006-01-18", hour: 9)
        #expect(keptDays(evaluation.evaluate(after, now: date("2006-01-17", hour: 10))) == ["2006-01-16", "2006-01-17"])
    }

    @Test func oneJobStandsForSeveralDaysWhenJobsWereMissed() {
        let history = [
            RetentionCandidate(id: "a", time: date("2006-01-02", hour: 12)), RetentionCandidate(id: "b", time: date("2006-01-09", hour: 12)),
        ]
        let verdicts = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [rule(.day, 5)]), timeZone: utc)
            .evaluate(history, now: date("2006-01-12"))
        // Days 11, 10, 9 are b; days 8 and 7 are a.
        #expect(verdicts.map(\.keep) == [true, true])
        #expect(verdicts[0].reasons == ["daily 4 of 5 (2006-01-08)", "daily 5 of 5 (2006-01-07)"])
    }

    @Test func standardPoliciesKeepDaysOrJobsAndAlwaysTheLatest() {
        let history = daily(from: "2006-01-01", to: "2006-01-11", hour: 12)
        let days = RetentionEvaluation(policy: .keepDays(3), timeZone: utc).evaluate(history, now: date("2006-01-11", hour: 6))
        #expect(keptDays(days) == ["2006-01-08", "2006-01-09", "2006-01-10"])
        let jobs = RetentionEvaluation(policy: .keepJobs(2), timeZone: utc).evaluate(history, now: date("2006-01-11", hour: 6))
        #expect(keptDays(jobs) == ["2006-01-09", "2006-01-10"])
        #expect(jobs.last?.reason == "kept: job 1 of the last 2; latest snapshot")
        // Long after the last job, the latest snapshot still keeps every current file.
        let late = RetentionEvaluation(policy: .keepDays(3), timeZone: utc).evaluate(history, now: date("2007-01-01"))
        #expect(keptDays(late) == ["2006-01-10"])
        #expect(late.last?.reason == "kept: latest snapshot")
    }

    @Test func partialSnapshotsNeverPushACompleteOneOutAndExpireOnceANewerCompleteOneExists() {
        var history = daily(from: "2006-01-01", to: "2006-01-06", hour: 12)
        history.append(RetentionCandidate(id: "partial-5", time: date("2006-01-05", hour: 13), isComplete: false))
        history.append(RetentionCandidate(id: "partial-6", time: date("2006-01-06", hour: 12), isComplete: false))
        for policy: RetentionPolicy.Kind in [.keepJobs(2), .keepDays(1), .advanced(removeOverlap: false, rules: [rule(.day, 2)])] {
            let verdicts = Dictionary(
                uniqueKeysWithValues: RetentionEvaluation(policy: policy, timeZone: utc).evaluate(history, now: date("2006-01-06", hour: 20)).map { ($0.id, $0) })
            #expect(verdicts["partial-6"]?.keep == true, "\(policy): the latest")
            #expect(verdicts["partial-5"]?.reason == "kept: partial, and no complete snapshot is newer", "\(policy)")
            #expect(verdicts["4"]?.keep == true && verdicts["4"]?.reasons.contains("latest complete snapshot") == true, "\(policy)")
        }
        let jobs = RetentionEvaluation(policy: .keepJobs(2), timeZone: utc).evaluate(history, now: date("2006-01-06", hour: 20))
        #expect(jobs.filter(\.keep).map(\.id).sorted() == ["3", "4", "partial-5", "partial-6"], "two complete jobs are counted, partial ones are extra")

        // Once a newer complete snapshot exists, the partial ones expire.
        history.append(RetentionCandidate(id: "complete-6", time: date("2006-01-06", hour: 14)))
        let later = Dictionary(
            uniqueKeysWithValues: RetentionEvaluation(policy: .keepJobs(2), timeZone: utc).evaluate(history, now: date("2006-01-06", hour: 20)).map { ($0.id, $0) })
        #expect(later["partial-5"]?.reason == "expired: partial, and a newer complete snapshot exists")
        #expect(later["partial-6"]?.keep == false)
        #expect(later["complete-6"]?.keep == true && later["4"]?.keep == true && later["3"]?.keep == false)

        // Any number of partial runs after one complete one: the complete one stays.
        var interrupted = [RetentionCandidate(id: "only", time: date("2006-01-01", hour: 12))]
        for day in 2...9 { interrupted.append(RetentionCandidate(id: "p\(day)", time: date("2006-01-0\(day)", hour: 12), isComplete: false)) }
        let verdicts = RetentionEvaluation(policy: .keepJobs(1), timeZone: utc).evaluate(interrupted, now: date("2006-01-10"))
        #expect(verdicts.first { $0.id == "only" }?.keep == true)
    }

    @Test func theNewestCompleteSnapshotOfAnotherWriterIsKeptUnlessAskedOtherwise() {
        let a = "a", b = "b"
        let history = [
            RetentionCandidate(id: "b1", time: date("2006-01-01", hour: 12), group: b),
            RetentionCandidate(id: "b2", time: date("2006-01-02", hour: 12), group: b),
            RetentionCandidate(id: "b3", time: date("2006-01-03", hour: 12), isComplete: false, group: b),
            RetentionCandidate(id: "a1", time: date("2006-01-04", hour: 12), group: a),
            RetentionCandidate(id: "a2", time: date("2006-01-05", hour: 12), group: a),
        ]
        let evaluation = RetentionEvaluation(policy: .keepJobs(1), timeZone: utc)
        let protected = evaluation.evaluate(history, now: date("2006-01-06"), currentGroup: a)
        // b3, b's partial run after its newest complete one, is b's to replace, not a's.
        #expect(protected.filter(\.keep).map(\.id) == ["b2", "b3", "a2"])
        #expect(protected.first { $0.id == "b2" }?.reason.contains("writer this config no longer is") == true)
        let unprotected = evaluation.evaluate(history, now: date("2006-01-06"))
        #expect(unprotected.filter(\.keep).map(\.id) == ["a2"])
    }

    @Test func thisWritersNewestIsKeptWhenAnotherWriterFillsTheCount() {
        // A laptop away for days while a desktop backs up the same set hourly.
        var history = [RetentionCandidate(id: "laptop", time: date("2006-01-01", hour: 12), group: "laptop")]
        for hour in 0..<10 { history.append(RetentionCandidate(id: "desktop\(hour)", time: date("2006-01-05", hour: hour), group: "desktop")) }
        // A partial desktop run never expires the laptop's partial one, nor the other way.
        history.append(RetentionCandidate(id: "laptop-partial", time: date("2006-01-04", hour: 12), isComplete: false, group: "laptop"))
        let verdicts = RetentionEvaluation(policy: .keepJobs(3), timeZone: utc).evaluate(history, now: date("2006-01-06"), currentGroup: "laptop")
        let kept = Set(verdicts.filter(\.keep).map(\.id))
        #expect(kept.contains("laptop"), "\(verdicts.map(\.reason))")
        #expect(kept.contains("laptop-partial"), "only a newer complete laptop snapshot replaces it")
        #expect(kept.isSuperset(of: ["desktop7", "desktop8", "desktop9"]))
    }

    @Test func daysAreCalendarDaysOfTheZoneAcrossDaylightSavingChanges() throws {
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        // Jobs at 00:30 Berlin time around the change to summer time (2006-03-26).
        let history = daily(from: "2006-03-20", to: "2006-04-02", hour: 0, zone: berlin).map {
            RetentionCandidate(id: $0.id, time: $0.time.addingTimeInterval(1800))
        }
        let verdicts = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [rule(.day, 10)]), timeZone: berlin)
            .evaluate(history, now: date("2006-04-01", hour: 12, zone: berlin))
        #expect(keptDays(verdicts, zone: berlin) == (23...31).map { "2006-03-\($0)" } + ["2006-04-01"])
        let sunday = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [rule(.week(.sunday), 1)]), timeZone: berlin)
            .evaluate(history, now: date("2006-03-28", zone: berlin))
        #expect(keptDays(sunday, zone: berlin).contains("2006-03-26"))
    }

    @Test func customDatesAreKeptForGoodAndTakeNoPartInOverlap() {
        let history = daily(from: "2005-01-01", to: "2006-01-17", hour: 18)
        let rules = [rule(.day, 3), rule(.month(.number(1)), 2), rule(.custom(dates: [LocalDate(year: 2005, month: 6, day: 30)]), nil)]
        let verdicts = RetentionEvaluation(policy: .advanced(removeOverlap: true, rules: rules), timeZone: utc).evaluate(history, now: date("2006-01-17"))
        #expect(keptDays(verdicts) == ["2005-06-30", "2005-12-01", "2006-01-01", "2006-01-14", "2006-01-15", "2006-01-16"])
        #expect(verdicts.first { DayCalendar(timeZone: utc).date(of: $0.time).description == "2005-06-30" }?.reason == "kept: custom 2005-06-30 (kept for good)")
        // A date before the first job keeps nothing; a date in the future neither.
        let early = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [rule(.custom(dates: [LocalDate(year: 2004, month: 1, day: 1), LocalDate(year: 2007, month: 1, day: 1)]), nil)]), timeZone: utc)
        #expect(keptDays(early.evaluate(history, now: date("2006-01-17"))) == ["2006-01-16"], "only the latest")
    }

    @Test func monthDaysPastTheEndAndLastDays() {
        let last = RetentionRule.Frequency.month(.last).days(upTo: LocalDate(year: 2024, month: 3, day: 15), count: 3)
        #expect(last.map(\.description) == ["2024-02-29", "2024-01-31", "2023-12-31"])
        let thirtyFirst = RetentionRule.Frequency.month(.number(31)).days(upTo: LocalDate(year: 2024, month: 5, day: 1), count: 2)
        #expect(thirtyFirst.map(\.description) == ["2024-04-30", "2024-03-31"])
        let leap = RetentionRule.Frequency.year(month: 2, day: 29).days(upTo: LocalDate(year: 2025, month: 6, day: 1), count: 2)
        #expect(leap.map(\.description) == ["2025-02-28", "2024-02-29"])
        let fiscal = RetentionRule.Frequency.quarter(.number(1), months: [2, 5, 8, 11]).days(upTo: LocalDate(year: 2024, month: 3, day: 1), count: 2)
        #expect(fiscal.map(\.description) == ["2024-02-01", "2023-11-01"])
        #expect(LocalDate(year: 2006, month: 1, day: 17).weekday == .tuesday)
        #expect(LocalDate(dayNumber: LocalDate(year: 1999, month: 12, day: 31).dayNumber + 1) == LocalDate(year: 2000, month: 1, day: 1))
    }

    @Test(arguments: 1...40 as ClosedRange<UInt64>)
    func propertiesHoldOverRandomHistoriesAndPolicies(seed: UInt64) {
        var generator = SeededGenerator(state: seed)
        var time = date("2004-01-01").timeIntervalSince1970
        var history: [RetentionCandidate] = []
        for index in 0..<Int.random(in: 1...300, using: &generator) {
            time += Double.random(in: 600...(4 * 86_400), using: &generator)
            history.append(RetentionCandidate(id: "\(index)", time: Date(timeIntervalSince1970: time), isComplete: Int.random(in: 0..<10, using: &generator) > 0))
        }
        let now = Date(timeIntervalSince1970: time + Double.random(in: 0...(30 * 86_400), using: &generator))
        let pool: [RetentionRule] = [
            rule(.day, Int.random(in: 1...10, using: &generator)), rule(.week(Weekday.allCases.randomElement(using: &generator)!), Int.random(in: 1...6, using: &generator)),
            rule(.month(Bool.random(using: &generator) ? .last : .number(Int.random(in: 1...31, using: &generator))), Int.random(in: 1...12, using: &generator)),
            rule(.quarter(.number(1), months: RetentionRule.defaultQuarterMonths), Int.random(in: 1...4, using: &generator)),
            rule(.year(month: 1, day: 1), Int.random(in: 1...5, using: &generator)),
        ]
        let rules = pool.filter { _ in Bool.random(using: &generator) }
        for removeOverlap in [false, true] {
            let verdicts = RetentionEvaluation(policy: .advanced(removeOverlap: removeOverlap, rules: rules), timeZone: utc).evaluate(history, now: now)
            #expect(verdicts.count == history.count)
            #expect(verdicts.last?.keep == true, "the latest snapshot is always kept")
            #expect(verdicts.allSatisfy { !$0.reasons.isEmpty })
            // Adding a rule never expires more.
            let more = rules + [rule(.day, 3)]
            let wider = RetentionEvaluation(policy: .advanced(removeOverlap: removeOverlap, rules: more), timeZone: utc).evaluate(history, now: now)
            if !removeOverlap {
                #expect(zip(verdicts, wider).allSatisfy { !$0.keep || $1.keep })
                // Nothing a rule keeps is expired.
                for single in rules {
                    let alone = RetentionEvaluation(policy: .advanced(removeOverlap: false, rules: [single]), timeZone: utc).evaluate(history, now: now)
                    #expect(zip(alone, verdicts).allSatisfy { !$0.keep || $1.keep }, "seed \(seed): \(single.frequency)")
                }
            }
            // Evaluating what is kept again expires nothing more (pruning twice changes nothing).
            let kept = zip(history.sorted { ($0.time, $0.id) < ($1.time, $1.id) }, verdicts).filter { $1.keep }.map(\.0)
            let again = RetentionEvaluation(policy: .advanced(removeOverlap: removeOverlap, rules: rules), timeZone: utc).evaluate(kept, now: now)
            let expiredAgain = again.filter { !$0.keep }.map(\.reason)
            #expect(expiredAgain.isEmpty, "seed \(seed): \(expiredAgain)")
        }
    }
}
