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
    /// Snapshots with any of these tags (`cairn tag`) are kept, whatever the rules say.
    public var keepTags: [String] = []
}

/// What a snapshot tag (`cairn tag`, `keep-tags:`) may be.
public enum SnapshotTag {
    /// Why `tag` cannot be a tag, or nil: 1 to 64 characters of letters, digits, `-`, `_`,
    /// `.`, `:` and `@`, so that tags print, type and compare plainly.
    public static func problem(_ tag: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@")
        guard !tag.isEmpty, tag.count <= 64 else { return "a tag has 1 to 64 characters, found \(tag.isEmpty ? "an empty one" : "\(tag.count)")" }
        guard tag.allSatisfy(allowed.contains) else {
            let shown = String(tag.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
            return "'\(shown)' is not a tag: use letters, digits and - _ . : @"
        }
        return nil
    }
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
