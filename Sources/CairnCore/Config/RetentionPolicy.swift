/// How long retained versions stay (user guide 5.13, technical FAQ 2.33).
public struct RetentionPolicy: Sendable {
    public enum Kind: Hashable, Sendable {
        /// Standard: every snapshot of the last N days.
        case keepDays(Int)
        /// Standard: the last N jobs.
        case keepJobs(Int)
        /// Advanced: snapshots any rule keeps; with `removeOverlap`, each rule drops what the
        /// next coarser rule already covers.
        case advanced(removeOverlap: Bool, rules: [RetentionRule])
    }

    public var name: String
    public var location: SourceLocation
    public var kind: Kind
}

/// One rule of an advanced retention policy.
public struct RetentionRule: Hashable, Sendable {
    public enum DayOfMonth: Hashable, Sendable, CustomStringConvertible {
        case number(Int)
        case last

        public var description: String {
            switch self {
            case .number(let day): return String(day)
            case .last: return "last"
            }
        }
    }

    public enum Frequency: Hashable, Sendable {
        case day
        case week(Weekday)
        case month(DayOfMonth)
        /// `day` of each month in `months` (1 to 12); January, April, July and October by default.
        case quarter(DayOfMonth, months: [Int])
        case year(month: Int, day: Int)
        /// Snapshots of these dates are kept for good.
        case custom(dates: [LocalDate])

        public var name: String {
            switch self {
            case .day: return "day"
            case .week: return "week"
            case .month: return "month"
            case .quarter: return "quarter"
            case .year: return "year"
            case .custom: return "custom"
            }
        }
    }

    public static let defaultQuarterMonths = [1, 4, 7, 10]

    public var frequency: Frequency
    /// How many periods back the rule keeps a snapshot for; nil for `custom`.
    public var copies: Int?
    public var location: SourceLocation
}
