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
            case .badTime(let text): return "'\(text)' is not a time: use ISO 8601, such as 2026-11-20, 2026-11-20T14:00 or 2026-11-20T14:00+01:00"
            case .none(let text): return text
            case .ambiguous(let text): return text
            }
        }
    }

    /// Parses an ISO 8601 `TIME` in `zone` unless it names its own offset. A date alone means
    /// the end of that day: the files as they were that day.
    public static func parseTime(_ text: String, in zone: TimeZone) throws -> Date {
        var rest = Substring(text)
        var offset: Int?
        if rest.hasSuffix("Z") {
            offset = 0
            rest = rest.dropLast()
        } else if let sign = rest.lastIndex(where: { $0 == "+" || $0 == "-" }), rest[..<sign].contains("T") {
            let parts = rest[rest.index(after: sign)...].split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]), parts[0].count == 2, parts[1].count == 2 else {
                throw Failure.badTime(text)
            }
            offset = (hours * 3600 + minutes * 60) * (rest[sign] == "-" ? -1 : 1)
            rest = rest[..<sign]
        }
        let moment: LocalDateTime
        if let date = LocalDate(parsing: String(rest)), offset == nil {
            moment = LocalDateTime(date: date, time: TimeOfDay(hour: 23, minute: 59, second: 59))
            guard let instant = moment.instant(in: zone) else { throw Failure.badTime(text) }
            return instant.addingTimeInterval(0.999_999)
        }
        guard let parsed = LocalDateTime(parsing: String(rest)) else { throw Failure.badTime(text) }
        moment = parsed
        let timeZone = offset.flatMap { TimeZone(secondsFromGMT: $0) } ?? zone
        guard let instant = moment.instant(in: timeZone) else { throw Failure.badTime(text) }
        return instant
    }

    /// The chosen snapshot among `records` (oldest first).
    public func pick(from records: [SnapshotRecord], set: String) throws -> SnapshotRecord {
        let ofSet = records.filter { $0.snapshot.set == set }
        switch self {
        case .latest:
            guard let last = ofSet.last else { throw Failure.none("backup set '\(set)' has no snapshots yet") }
            return last
        case .at(let date):
            guard let match = ofSet.last(where: { $0.snapshot.start.date <= date }) else {
                throw Failure.none("backup set '\(set)' has no snapshot at or before \(Timestamp(date))")
            }
            return match
        case .id(let prefix):
            let matches = ofSet.filter { $0.id.hex.hasPrefix(prefix.lowercased()) }
            guard !matches.isEmpty else { throw Failure.none("backup set '\(set)' has no snapshot \(prefix); 'cairn snapshots \(set)' lists them") }
            guard matches.count == 1 else { throw Failure.ambiguous("\(prefix) names \(matches.count) snapshots; give more of the id") }
            return matches[0]
        }
    }
}
