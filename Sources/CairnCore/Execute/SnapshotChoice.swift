import Foundation

/// Which snapshot a restore or a listing uses: the latest, the newest at or before a time, or
/// one named by id (or a unique prefix of it).
public enum SnapshotChoice: Sendable, Equatable {
    case latest
    case at(Date)
    case id(String)

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case badTime(String)
        case none(String)
        case ambiguous(String)

        public var description: String {
            switch self {
            case .badTime(let text):
                return "'\(text)' is not a time: give a date, a date and time, or a time today, such as 2026-11-20, 2026-11-20 14:00, 2026-11-20T14:00:05+01:00 or 14:00"
            case .none(let text): return text
            case .ambiguous(let text): return text
            }
        }

        var withSnapshotHint: Failure {
            guard case .badTime(let text) = self else { return self }
            return .none(
                "'\(text)' names no snapshot: give 'latest', an id (at least 4 of its hexadecimal characters, as cairn snapshots lists them) or a time such as 2026-11-20 14:00")
        }
    }

    /// A snapshot named on the command line: `latest`, an id (at least 4 of its hexadecimal
    /// characters), or a time as `--at` takes it (the newest snapshot at or before it).
    public static func parse(_ text: String, in zone: TimeZone, now: Date) throws -> SnapshotChoice {
        if text == "latest" { return .latest }
        if text.count >= 4, text.allSatisfy(\.isHexDigit) { return .id(text) }
        do {
            return .at(try parseTime(text, in: zone, now: now))
        } catch {
            throw Failure.badTime(text).withSnapshotHint
        }
    }

    /// The last instant a `TIME` given to `--at` covers, read in `zone` unless it names its own
    /// offset: the end of its precision, so a snapshot that started within it is included
    /// (`21:51:19` covers 21:51:19.93; a date alone is the end of that day). Accepted: a date
    /// (`2026-11-20`), a date and a time joined by `T` or a space, or a time alone (today), the
    /// time as `HH:MM`, `HH:MM:SS` or with a fraction of a second, then optionally `Z`, `UTC` or
    /// an offset (`+01:00`, `+0100`), with or without a space before it: every time cairn prints.
    public static func parseTime(_ text: String, in zone: TimeZone, now: Date) throws -> Date {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var offset: Int?
        if rest.hasSuffix("Z") {
            offset = 0
            rest = rest.dropLast()
        } else if rest.hasSuffix("UTC") {
            offset = 0
            rest = rest.dropLast(3)
        } else if rest.contains(":"), let sign = rest.lastIndex(where: { $0 == "+" || $0 == "-" }), rest[..<sign].contains(":") {
            let digits = rest[rest.index(after: sign)...].filter { $0 != ":" }
            let colons = rest[rest.index(after: sign)...].filter { $0 == ":" }.count
            guard digits.count == 4, colons <= 1, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let hours = Int(digits.prefix(2)), let minutes = Int(digits.suffix(2)), hours <= 14, minutes < 60
            else { throw Failure.badTime(text) }
            offset = (hours * 3600 + minutes * 60) * (rest[sign] == "-" ? -1 : 1)
            rest = rest[..<sign]
        }
        rest = Substring(rest.trimmingCharacters(in: .whitespaces))
        let timeZone = offset.flatMap { TimeZone(secondsFromGMT: $0) } ?? zone
        let datePart: Substring?
        let timePart: Substring?
        if let separator = rest.firstIndex(where: { $0 == "T" || $0 == " " }) {
            (datePart, timePart) = (rest[..<separator], rest[rest.index(after: separator)...])
        } else if rest.contains(":") {
            (datePart, timePart) = (nil, rest)
        } else {
            (datePart, timePart) = (rest, nil)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let date: LocalDate
        if let datePart {
            guard let parsed = LocalDate(parsing: String(datePart)) else { throw Failure.badTime(text) }
            date = parsed
        } else {
            let today = calendar.dateComponents([.year, .month, .day], from: now)
            date = LocalDate(year: today.year!, month: today.month!, day: today.day!)
        }
        guard let timePart else {
            // The whole day: up to the last instant before the next day starts (found from the
            // day's noon: where a clock change skips midnight, the day starts at 01:00).
            guard offset == nil, let noon = LocalDateTime(date: date, time: TimeOfDay(hour: 12, minute: 0)).instant(in: zone),
                let day = calendar.dateInterval(of: .day, for: noon)
            else { throw Failure.badTime(text) }
            return day.end.addingTimeInterval(-0.000_001)
        }
        let parts = timePart.split(separator: ":", omittingEmptySubsequences: false)
        let (whole, fraction) = parts.count == 3 ? parts[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).pair : (nil, nil)
        func twoDigits(_ part: Substring?) -> Int? {
            guard let part, part.count == 2, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(part)
        }
        guard parts.count == 2 || parts.count == 3, let hour = twoDigits(parts[0]), let minute = twoDigits(parts[1]), hour < 24, minute < 60 else {
            throw Failure.badTime(text)
        }
        var second = 0
        var span: TimeInterval = 60
        var extra: TimeInterval = 0
        if parts.count == 3 {
            guard let value = twoDigits(whole), value < 60 else { throw Failure.badTime(text) }
            second = value
            span = 1
            if let fraction {
                guard (1...9).contains(fraction.count), fraction.allSatisfy({ $0.isASCII && $0.isNumber }), let digits = Double("0." + fraction) else {
                    throw Failure.badTime(text)
                }
                extra = digits
                span = pow(10, -Double(fraction.count))
            }
        }
        guard let instant = LocalDateTime(date: date, time: TimeOfDay(hour: hour, minute: minute, second: second)).instant(in: timeZone) else {
            throw Failure.badTime(text)
        }
        // The end of its precision: within a microsecond (what a Date holds at today's times).
        return instant.addingTimeInterval(extra + span - min(span / 2, 0.000_001))
    }

    /// The chosen snapshot among `records` (oldest first).
    /// Errors print times in the style of `times`.
    public func pick(from records: [SnapshotRecord], set: String, times: TimeText = .utc) throws -> SnapshotRecord {
        let ofSet = records.filter { $0.snapshot.set == set }
        switch self {
        case .latest:
            guard let last = ofSet.last else { throw Failure.none("backup set '\(set)' has no snapshots yet") }
            return last
        case .at(let date):
            guard let match = ofSet.last(where: { $0.snapshot.start.date <= date }) else {
                throw Failure.none("backup set '\(set)' has no snapshot at or before \(times(date))")
            }
            return match
        case .id(let prefix):
            guard prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) else {
                throw Failure.none("'\(prefix)' is not a snapshot id: give at least 4 of its hexadecimal characters; 'cairn snapshots \(set)' lists them")
            }
            let matches = ofSet.filter { $0.id.hex.hasPrefix(prefix.lowercased()) }
            guard !matches.isEmpty else { throw Failure.none("backup set '\(set)' has no snapshot \(prefix); 'cairn snapshots \(set)' lists them") }
            guard matches.count == 1 else { throw Failure.ambiguous("\(prefix) names \(matches.count) snapshots; give more of the id") }
            return matches[0]
        }
    }
}

extension Array where Element == Substring {
    /// The first two elements (the second nil when there is one).
    fileprivate var pair: (Substring?, Substring?) { (first, count > 1 ? self[1] : nil) }
}
