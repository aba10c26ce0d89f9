import Foundation

/// A snapshot as retention sees it: when its job ran, whether it finished (complete, or
/// incomplete with its failed files' previous versions), and which writer made it.
public struct RetentionCandidate: Sendable, Equatable {
    public var id: String
    public var time: Date
    /// False for a partial snapshot (interrupted): it never counts as one of the jobs kept.
    public var isComplete: Bool
    /// The (set, host, sources) that made it; nil when all are alike.
    public var group: String?
    public var groupText: String?
    /// Its tags (`cairn tag`): a policy's `keep-tags` keeps it.
    public var tags: [String]

    public init(id: String, time: Date, isComplete: Bool = true, group: String? = nil, groupText: String? = nil, tags: [String] = []) {
        self.id = id
        self.time = time
        self.isComplete = isComplete
        self.group = group
        self.groupText = groupText
        self.tags = tags
    }
}

/// Keep or expire, and why (`kept: weekly 2 of 4 (2006-01-07)`,
/// `expired: daily, overlapped by weekly 2006-01-14`).
public struct RetentionVerdict: Sendable, Equatable {
    public var id: String
    public var time: Date
    public var keep: Bool
    public var reasons: [String]
    /// Set by the preview for a simulated partial snapshot.
    public var isPartial = false

    public var reason: String { (keep ? "kept: " : "expired: ") + reasons.joined(separator: "; ") }
}

/// Retention as a pure function of (policy, snapshots, now, time zone): which snapshots a policy
/// keeps and why (user guide 5.13, technical FAQ 2.33). Days are calendar days in the zone.
///
/// Standard policies keep every snapshot of the last N days, or the last N jobs. An advanced
/// policy's rule keeps, for each of its last `copies` frequency days up to now, the newest job
/// at or before the end of that day (the files as they were that day; one job may stand for
/// several days when jobs were missed; today counts once a job ran today). With overlap
/// removal each rule drops what it picked that is not newer than the newest pick of the next
/// coarser rule of the policy (custom rules take no part). Rules count and pick complete
/// snapshots only; a partial snapshot is kept until a newer complete one exists. The latest
/// snapshot, and the latest complete one, are always kept.
public struct RetentionEvaluation: Sendable {
    public let policy: RetentionPolicy.Kind
    public let timeZone: TimeZone
    /// Snapshots with any of these tags are kept, whatever the rules say.
    public let keepTags: [String]

    public init(policy: RetentionPolicy.Kind, timeZone: TimeZone, keepTags: [String] = []) {
        self.policy = policy
        self.timeZone = timeZone
        self.keepTags = keepTags
    }

    /// A verdict for each snapshot, oldest first.
    ///
    /// The policy counts and picks complete snapshots only: a partial one never pushes a
    /// complete one out. A partial snapshot is kept while no newer complete one exists, and
    /// expires once one does. The newest complete snapshot is always kept, and so is the latest
    /// snapshot. With `currentGroup`, the newest complete snapshot of every other group (another
    /// host, or sources this config no longer lists) is kept too.
    public func evaluate(_ snapshots: [RetentionCandidate], now: Date, currentGroup: String? = nil) -> [RetentionVerdict] {
        let all = snapshots.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
        let completeIndices = all.indices.filter { all[$0].isComplete }
        let complete = completeIndices.map { all[$0] }
        var kept: [Int: [String]] = [:]
        var expired: [Int: [String]] = [:]
        let verdicts = policyVerdicts(complete, now: now)
        for (index, reasons) in verdicts.kept { kept[completeIndices[index]] = reasons }
        for (index, reason) in verdicts.dropped where verdicts.kept[index] == nil { expired[completeIndices[index]] = [reason] }
        func keep(_ index: Int, _ reason: String) {
            if kept[index]?.contains(reason) != true { kept[index, default: []].append(reason) }
        }

        let upToNow = all.indices.filter { all[$0].time <= now }
        let latestComplete = upToNow.last { all[$0].isComplete }
        // A partial snapshot stands for its own writer: while other writers are protected
        // (`currentGroup`), only a newer complete snapshot of the same writer (set, host,
        // sources) replaces it.
        func writer(_ index: Int) -> String { currentGroup == nil ? "" : all[index].group ?? "" }
        var newestCompleteOfGroup: [String: Int] = [:]
        for index in upToNow where all[index].isComplete { newestCompleteOfGroup[writer(index)] = index }
        for index in all.indices where !all[index].isComplete {
            let newer = newestCompleteOfGroup[writer(index)]
            if let newer, all[newer].time >= all[index].time {
                expired[index] = ["partial, and a newer complete snapshot exists"]
            } else {
                keep(index, "partial, and no complete snapshot is newer")
            }
        }
        for index in all.indices {
            for tag in keepTags where all[index].tags.contains(tag) { keep(index, "tagged \(tag) (keep-tags)") }
        }
        if let latest = upToNow.last { keep(latest, "latest snapshot") }
        if let latestComplete, latestComplete != upToNow.last { keep(latestComplete, "latest complete snapshot") }
        for index in all.indices where all[index].time > now { keep(index, "newer than now") }
        if let currentGroup {
            var newest: [String: Int] = [:]
            for index in upToNow where all[index].isComplete { if let group = all[index].group { newest[group] = index } }
            for (group, index) in newest {
                if group == currentGroup {
                    // This writer's own newest, even when other writers' newer snapshots fill
                    // the policy's count.
                    keep(index, "newest complete snapshot of this config's writer")
                } else {
                    let text = all[index].groupText.map { " (\($0))" } ?? ""
                    keep(index, "newest complete snapshot of a writer this config no longer is\(text): expired only by cairn prune --expire-other-writers")
                }
            }
        }

        return all.enumerated().map { index, snapshot in
            if let reasons = kept[index] { return RetentionVerdict(id: snapshot.id, time: snapshot.time, keep: true, reasons: reasons) }
            return RetentionVerdict(id: snapshot.id, time: snapshot.time, keep: false, reasons: expired[index] ?? [notKept])
        }
    }

    /// What the policy's own rules keep among complete snapshots (sorted oldest first): the
    /// reasons by index.
    func policyVerdicts(_ sorted: [RetentionCandidate], now: Date) -> (kept: [Int: [String]], dropped: [Int: String]) {
        var kept: [Int: [String]] = [:]
        func keep(_ index: Int, _ reason: String) {
            if kept[index]?.contains(reason) != true { kept[index, default: []].append(reason) }
        }
        let days = DayCalendar(timeZone: timeZone)

        switch policy {
        case .keepDays(let count):
            let cutoff = days.calendar.date(byAdding: .day, value: -count, to: now) ?? now
            for (index, snapshot) in sorted.enumerated() where snapshot.time > cutoff {
                keep(index, "within the last \(count) day\(count == 1 ? "" : "s")")
            }
        case .keepJobs(let count):
            for (rank, index) in sorted.indices.reversed().prefix(count).enumerated() {
                keep(index, "job \(rank + 1) of the last \(count)")
            }
        case .advanced(let removeOverlap, let rules):
            let picks = rules.map { Self.picks(of: $0, in: sorted, now: now, days: days) }
            var dropped: [Int: String] = [:]
            for (number, rule) in rules.enumerated() {
                var limit: (time: Date, text: String)?
                if removeOverlap, let rank = rule.frequency.coarseness {
                    // The newest pick of the next coarser rules present.
                    let coarser = rules.indices.filter { rules[$0].frequency.coarseness.map { $0 > rank } ?? false }
                    if let next = coarser.compactMap({ rules[$0].frequency.coarseness }).min() {
                        for other in coarser where rules[other].frequency.coarseness == next {
                            for pick in picks[other] where limit == nil || sorted[pick.index].time > limit!.time {
                                limit = (sorted[pick.index].time, "\(rules[other].frequency.ruleName) \(pick.day)")
                            }
                        }
                    }
                }
                for pick in picks[number] {
                    if let limit, sorted[pick.index].time <= limit.time {
                        dropped[pick.index] = dropped[pick.index] ?? "\(rule.frequency.ruleName), overlapped by \(limit.text)"
                    } else {
                        keep(pick.index, pick.reason)
                    }
                }
            }
            return (kept, dropped)
        }
        return (kept, [:])
    }

    /// Why a snapshot nothing keeps expires.
    var notKept: String {
        switch policy {
        case .keepDays(let count): return "older than \(count) day\(count == 1 ? "" : "s")"
        case .keepJobs(let count): return "not one of the last \(count) job\(count == 1 ? "" : "s")"
        case .advanced: return "no rule keeps it"
        }
    }

    struct Pick {
        var index: Int
        var day: LocalDate
        var reason: String
    }

    /// What one rule keeps: for each of its frequency days, the newest job at or before the end
    /// of that day, preferring a complete one of the period.
    static func picks(of rule: RetentionRule, in sorted: [RetentionCandidate], now: Date, days: DayCalendar) -> [Pick] {
        let today = days.date(of: now)
        let ranToday = sorted.contains { days.date(of: $0.time) == today && $0.time <= now }
        let last = ranToday ? today : today.adding(days: -1)
        let name = rule.frequency.ruleName
        var result: [Pick] = []
        if case .custom(let dates) = rule.frequency {
            for date in dates.sorted() where date <= last {
                if let index = newest(in: sorted, before: days.end(of: date), after: nil) {
                    result.append(Pick(index: index, day: date, reason: "custom \(date) (kept for good)"))
                }
            }
            return result
        }
        let copies = rule.copies ?? 0
        // One more frequency day than kept: the period of the oldest one starts after it.
        let frequencyDays = rule.frequency.days(upTo: last, count: copies + 1)
        for (offset, day) in frequencyDays.prefix(copies).enumerated() {
            let periodStart = offset + 1 < frequencyDays.count ? days.end(of: frequencyDays[offset + 1]) : nil
            guard var index = newest(in: sorted, before: days.end(of: day), after: nil) else { continue }
            if !sorted[index].isComplete, let complete = newest(in: sorted, before: days.end(of: day), after: periodStart, complete: true) {
                index = complete
            }
            result.append(Pick(index: index, day: day, reason: "\(name) \(offset + 1) of \(copies) (\(day))"))
        }
        return result
    }

    /// The newest snapshot before `end` (and after `start`), by binary search.
    static func newest(in sorted: [RetentionCandidate], before end: Date, after start: Date?, complete: Bool = false) -> Int? {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle].time < end { low = middle + 1 } else { high = middle }
        }
        var index = low - 1
        while index >= 0 {
            if let start, sorted[index].time <= start { return nil }
            if !complete || sorted[index].isComplete { return index }
            index -= 1
        }
        return nil
    }
}

/// Calendar days in a time zone: which day a time falls on, and when a day ends.
struct DayCalendar: Sendable {
    let calendar: Calendar

    init(timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    func date(of time: Date) -> LocalDate {
        let parts = calendar.dateComponents([.year, .month, .day], from: time)
        return LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
    }

    /// The first instant of the next day (DST-safe: the calendar finds the day's real start).
    func end(of day: LocalDate) -> Date {
        let next = day.adding(days: 1)
        return calendar.date(from: DateComponents(year: next.year, month: next.month, day: next.day))!
    }
}

extension RetentionRule.Frequency {
    /// day < week < month < quarter < year; custom rules take no part in overlap removal.
    var coarseness: Int? {
        switch self {
        case .day: return 0
        case .week: return 1
        case .month: return 2
        case .quarter: return 3
        case .year: return 4
        case .custom: return nil
        }
    }

    var ruleName: String {
        switch self {
        case .day: return "daily"
        case .week: return "weekly"
        case .month: return "monthly"
        case .quarter: return "quarterly"
        case .year: return "yearly"
        case .custom: return "custom"
        }
    }

    /// The last `count` days of this frequency at or before `last`, newest first. A day of the
    /// month past its end (31 in April) is the month's last day; 29 February is 28 February in
    /// other years.
    func days(upTo last: LocalDate, count: Int) -> [LocalDate] {
        var result: [LocalDate] = []
        guard count > 0 else { return result }
        switch self {
        case .day:
            for offset in 0..<count { result.append(last.adding(days: -offset)) }
        case .week(let weekday):
            var day = last
            while day.weekday != weekday { day = day.adding(days: -1) }
            for offset in 0..<count { result.append(day.adding(days: -7 * offset)) }
        case .month(let dayOfMonth):
            var (year, month) = (last.year, last.month)
            while result.count < count {
                let day = Self.day(dayOfMonth, month: month, year: year)
                if day <= last { result.append(day) }
                (year, month) = month == 1 ? (year - 1, 12) : (year, month - 1)
            }
        case .quarter(let dayOfMonth, let months):
            var (year, month) = (last.year, last.month)
            while result.count < count {
                if months.contains(month) {
                    let day = Self.day(dayOfMonth, month: month, year: year)
                    if day <= last { result.append(day) }
                }
                (year, month) = month == 1 ? (year - 1, 12) : (year, month - 1)
            }
        case .year(let month, let dayNumber):
            var year = last.year
            while result.count < count {
                let day = LocalDate(year: year, month: month, day: min(dayNumber, LocalDate.days(inMonth: month, year: year)))
                if day <= last { result.append(day) }
                year -= 1
            }
        case .custom:
            break
        }
        return result
    }

    static func day(_ day: RetentionRule.DayOfMonth, month: Int, year: Int) -> LocalDate {
        let length = LocalDate.days(inMonth: month, year: year)
        switch day {
        case .number(let number): return LocalDate(year: year, month: month, day: min(number, length))
        case .last: return LocalDate(year: year, month: month, day: length)
        }
    }
}

/// `cairn retention preview`: a policy applied to a simulated history of one job per interval
/// from `from` up to, not including, `to`, which is "now".
public enum RetentionPreview {
    /// With `partialEvery` N, every Nth job is simulated as interrupted (a partial snapshot).
    public static func simulate(
        _ policy: RetentionPolicy.Kind, from: Date, to: Date, every interval: ConfigDuration, timeZone: TimeZone, partialEvery: Int? = nil
    ) -> [RetentionVerdict] {
        var jobs: [RetentionCandidate] = []
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var time = from
        while time < to {
            let number = jobs.count + 1
            jobs.append(RetentionCandidate(id: String(number), time: time, isComplete: partialEvery.map { number % $0 != 0 } ?? true))
            // Whole days step in calendar days, so jobs keep their time of day across DST changes.
            if interval.seconds % 86_400 == 0 {
                time = calendar.date(byAdding: .day, value: interval.seconds / 86_400, to: time)!
            } else {
                time = time.addingTimeInterval(TimeInterval(interval.seconds))
            }
        }
        let verdicts = RetentionEvaluation(policy: policy, timeZone: timeZone).evaluate(jobs, now: to)
        let partial = Set(jobs.filter { !$0.isComplete }.map(\.id))
        return verdicts.map { verdict in
            var marked = verdict
            marked.isPartial = partial.contains(verdict.id)
            return marked
        }
    }
}
