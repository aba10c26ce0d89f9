import Foundation

/// When a backup set's schedules fire (user guide 5.3): pure, the time passed in.
///
/// Schedules name wall-clock times in the config's zone. A time that falls in a spring-forward
/// gap fires at the first instant after the gap; one that occurs twice (fall back) fires once,
/// at its first occurrence. Several schedules combine, and firings at the same instant count
/// once. Kinds:
///
/// - `daily` at one or more times; `weekly` on some days at times;
/// - `monthly` on day 1-31 (day 29-31 fires on a shorter month's last day) or on a rule:
///   `first|second|third|fourth|last` + `-day|-weekday|-weekend|-monday..-sunday` (a weekday is
///   Monday-Friday, a weekend day Saturday or Sunday);
/// - `once` at a date and time;
/// - `interval` every X: the wall-clock times that are multiples of X after local midnight
///   (for X of a day or more, after midnight of 1970-01-01).
public struct ScheduleTimes: Sendable {
    public let schedules: [Schedule]
    public let timeZone: TimeZone

    public init(_ schedules: [Schedule], timeZone: TimeZone) {
        self.schedules = schedules
        self.timeZone = timeZone
    }

    /// How far `next` and `last` look for a firing: beyond ten years, none is expected.
    static let searchDays = 3700

    /// The next `count` firings after `date` (not at it), earliest first.
    ///
    /// Wall-clock times map to instants in order (a gap's times all go to its end, a fold's to
    /// their first occurrence), so each day's firings come after the day before's.
    public func next(after date: Date, count: Int) -> [Date] {
        guard count > 0, !schedules.isEmpty else { return [] }
        var found: [Date] = []
        var day = localDay(of: date) - 1
        let last = day + Self.searchDays
        while day <= last && found.count < count {
            for time in firings(onDay: day) where time > date && found.last.map({ time > $0 }) ?? true { found.append(time) }
            day += 1
        }
        return Array(found.prefix(count))
    }

    /// The last firing at or before `date`, or nil when there was none in the last ten years.
    public func last(atOrBefore date: Date) -> Date? {
        guard !schedules.isEmpty else { return nil }
        var day = localDay(of: date) + 1
        let first = day - Self.searchDays
        while day >= first {
            if let latest = firings(onDay: day).last(where: { $0 <= date }) { return latest }
            day -= 1
        }
        return nil
    }

    /// The firings in `(after, through]`, earliest first.
    public func firings(after: Date, through: Date) -> [Date] {
        guard through > after, !schedules.isEmpty else { return [] }
        var found: [Date] = []
        for day in (localDay(of: after) - 1)...(localDay(of: through) + 1) {
            for time in firings(onDay: day) where time > after && time <= through && found.last.map({ time > $0 }) ?? true {
                found.append(time)
            }
        }
        return found
    }

    // MARK: One local day

    /// The instants at which the schedules fire on local day `day` (days since 1970-01-01 in
    /// the zone's calendar), by their wall-clock times.
    func firings(onDay day: Int) -> [Date] {
        let date = LocalDate(dayNumber: day)
        var seconds: Set<Int> = []
        for schedule in schedules {
            switch schedule.kind {
            case .daily(let times):
                for time in times { seconds.insert(Self.secondOfDay(time)) }
            case .weekly(let days, let times):
                guard days.contains(Self.weekday(ofDay: day)) else { continue }
                for time in times { seconds.insert(Self.secondOfDay(time)) }
            case .monthly(let monthDay, let times):
                guard Self.day(monthDay, year: date.year, month: date.month) == date.day else { continue }
                for time in times { seconds.insert(Self.secondOfDay(time)) }
            case .once(let at):
                guard at.date.year == date.year, at.date.month == date.month, at.date.day == date.day else { continue }
                seconds.insert(Self.secondOfDay(at.time))
            case .interval(let every):
                let step = max(1, every.seconds)
                if step < 86_400 {
                    for second in stride(from: 0, to: 86_400, by: step) { seconds.insert(second) }
                } else {
                    let start = day * 86_400
                    let first = (start + step - 1).floorDivided(by: step) * step
                    if first < start + 86_400 { seconds.insert(first - start) }
                }
            }
        }
        var instants: Set<Date> = []
        for second in seconds { instants.insert(instant(wall: day * 86_400 + second)) }
        return instants.sorted()
    }

    /// The instant of wall-clock time `wall` (seconds since 1970-01-01 00:00 on the zone's
    /// clock): in a gap, the first instant after it; in a fold, the first occurrence.
    func instant(wall: Int) -> Date {
        let before = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wall - 86_400)))
        let after = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wall + 86_400)))
        let early = Date(timeIntervalSince1970: TimeInterval(wall - before))
        guard before != after else { return early }
        let late = Date(timeIntervalSince1970: TimeInterval(wall - after))
        let candidates = [(early, before), (late, after)].filter { timeZone.secondsFromGMT(for: $0.0) == $0.1 }.map(\.0)
        if let first = candidates.min() { return first }
        // In the gap: the change of offset is the first instant after it.
        let start = min(early, late).addingTimeInterval(-1)
        if let change = timeZone.nextDaylightSavingTimeTransition(after: start), change <= max(early, late) { return change }
        return max(early, late)
    }

    /// The local day (days since 1970-01-01 on the zone's calendar) that `date` falls on.
    func localDay(of date: Date) -> Int {
        let wall = Int(date.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: date)
        return wall.floorDivided(by: 86_400)
    }

    static func secondOfDay(_ time: TimeOfDay) -> Int { time.hour * 3600 + time.minute * 60 + time.second }

    static func weekday(ofDay day: Int) -> Weekday { LocalDate(dayNumber: day).weekday }

    /// The day of month a monthly schedule fires on in `year`-`month`; nil when the rule picks
    /// none (the fifth of something does not exist; `fourth` always does).
    static func day(_ monthDay: MonthDay, year: Int, month: Int) -> Int? {
        let length = LocalDate.days(inMonth: month, year: year)
        switch monthDay {
        case .number(let number):
            return min(number, length)
        case .rule(let ordinal, let kind):
            let first = LocalDate(year: year, month: month, day: 1).dayNumber
            let matching = (1...length).filter { day in
                let weekday = weekday(ofDay: first + day - 1)
                switch kind {
                case .day: return true
                case .weekday: return weekday != .saturday && weekday != .sunday
                case .weekend: return weekday == .saturday || weekday == .sunday
                case .specific(let wanted): return weekday == wanted
                }
            }
            switch ordinal {
            case .first: return matching.first
            case .second: return matching.count > 1 ? matching[1] : nil
            case .third: return matching.count > 2 ? matching[2] : nil
            case .fourth: return matching.count > 3 ? matching[3] : nil
            case .last: return matching.last
            }
        }
    }
}

extension Int {
    /// Division rounding toward minus infinity.
    func floorDivided(by divisor: Int) -> Int {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
