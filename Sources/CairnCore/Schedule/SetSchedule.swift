import Foundation

/// A backup set's schedules as the config names them, and when they fire.
public struct SetSchedule: Sendable {
    public let set: BackupSet
    public let schedules: [Schedule]
    public let times: ScheduleTimes

    public init(_ set: BackupSet, in config: Config) {
        self.set = set
        schedules = set.schedules.compactMap { config.schedules[$0.value] }
        times = ScheduleTimes(schedules, timeZone: config.timeZone)
    }

    /// How a schedule reads, for people: `daily at 01:00, 13:00`, `every 90m`.
    public static func describe(_ schedule: Schedule) -> String {
        func times(_ list: [TimeOfDay]) -> String { list.map(\.description).joined(separator: ", ") }
        let what: String
        switch schedule.kind {
        case .daily(let at): what = "daily at \(times(at))"
        case .weekly(let days, let at): what = "weekly on \(days.map(\.rawValue).joined(separator: ", ")) at \(times(at))"
        case .monthly(let day, let at): what = "monthly on \(day) at \(times(at))"
        case .once(let at): what = "once at \(at)"
        case .interval(let every): what = "every \(every)"
        }
        return schedule.maxDuration.map { "\(what), stopped after \($0)" } ?? what
    }
}

/// Times given on the command line (`--now`, `--from`): RFC 3339 (`2027-03-28T01:30:00Z`,
/// `...+02:00`), or a wall-clock time in the config's zone (`2027-03-28T03:30`, `2027-03-28
/// 03:30:15`), or a date alone (its midnight in the zone).
public enum TimeArgument {
    public struct Invalid: Error, CustomStringConvertible {
        public var text: String
        public var description: String {
            "'\(text)' is not a time: use RFC 3339 (2027-03-28T01:30:00Z, 2027-03-28T03:30:00+02:00) or a local time (2027-03-28T03:30, 2027-03-28)"
        }
    }

    public static func parse(_ text: String, in zone: TimeZone) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "T")
        for options in [ISO8601DateFormatter.Options.withInternetDateTime, [.withInternetDateTime, .withFractionalSeconds]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: trimmed) { return date }
        }
        let times = ScheduleTimes([], timeZone: zone)
        if let local = LocalDateTime(parsing: trimmed) {
            return times.instant(wall: local.date.dayNumber * 86_400 + ScheduleTimes.secondOfDay(local.time))
        }
        if let date = LocalDate(parsing: trimmed) {
            return times.instant(wall: date.dayNumber * 86_400)
        }
        throw Invalid(text: text)
    }

    /// `2027-03-28T03:00:00+02:00`: RFC 3339 with the zone's offset at that instant.
    /// A time `rfc3339` wrote; nil for other text.
    public static func parseRFC3339(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    public static func rfc3339(_ date: Date, in zone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
