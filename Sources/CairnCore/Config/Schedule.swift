/// A backup schedule (user guide 5.3). A set may have several; their run times combine.
public struct Schedule: Sendable {
    public enum Kind: Hashable, Sendable {
        case daily(at: [TimeOfDay])
        case weekly(days: [Weekday], at: [TimeOfDay])
        case monthly(day: MonthDay, at: [TimeOfDay])
        case once(at: LocalDateTime)
        case interval(every: ConfigDuration)

        public var typeName: String {
            switch self {
            case .daily: return "daily"
            case .weekly: return "weekly"
            case .monthly: return "monthly"
            case .once: return "once"
            case .interval: return "interval"
            }
        }
    }

    public var name: String
    public var location: SourceLocation
    public var kind: Kind
    /// A run still going after this long is interrupted and committed as a partial snapshot.
    public var maxDuration: ConfigDuration?
}

/// The day of a monthly schedule: a day number, or a rule such as `last-weekday` or `first-monday`.
public enum MonthDay: Hashable, Sendable, CustomStringConvertible {
    public enum Ordinal: String, CaseIterable, Sendable {
        case first, second, third, fourth, last
    }

    public enum Kind: Hashable, Sendable {
        /// Any day: `first-day` is the 1st, `last-day` the month's last day.
        case day
        /// Monday to Friday.
        case weekday
        /// Saturday or Sunday.
        case weekend
        case specific(Weekday)

        var name: String {
            switch self {
            case .day: return "day"
            case .weekday: return "weekday"
            case .weekend: return "weekend"
            case .specific(let weekday): return weekday.rawValue
            }
        }
    }

    /// Day 1 to 31; in shorter months a day past the end means the month's last day.
    case number(Int)
    case rule(Ordinal, Kind)

    public init?(parsing text: String) {
        let parts = text.split(separator: "-", maxSplits: 1).map(String.init)
        guard parts.count == 2, let ordinal = Ordinal(rawValue: parts[0]) else { return nil }
        switch parts[1] {
        case "day": self = .rule(ordinal, .day)
        case "weekday": self = .rule(ordinal, .weekday)
        case "weekend": self = .rule(ordinal, .weekend)
        default:
            guard let weekday = Weekday(rawValue: parts[1]) else { return nil }
            self = .rule(ordinal, .specific(weekday))
        }
    }

    public var description: String {
        switch self {
        case .number(let day): return String(day)
        case .rule(let ordinal, let kind): return "\(ordinal.rawValue)-\(kind.name)"
        }
    }

    /// Every spelling of the rule form, for "did you mean" and the schema.
    public static var ruleSpellings: [String] {
        let kinds = ["day", "weekday", "weekend"] + Weekday.allCases.map(\.rawValue)
        return Ordinal.allCases.flatMap { ordinal in kinds.map { "\(ordinal.rawValue)-\($0)" } }
    }
}
