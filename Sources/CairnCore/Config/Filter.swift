/// A backup filter (user guide 5.7): a rule over entry names under a top directory.
///
/// Filters are checked in the order a set lists them; the first that decides an entry wins,
/// and a filter's decision takes precedence over source selection.
public struct Filter: Sendable {
    public enum Target: String, CaseIterable, Sendable {
        case files
        case directories
    }

    public enum Match: String, CaseIterable, Sendable {
        case startsWith = "starts-with"
        case contains
        case endsWith = "ends-with"
        case regex
    }

    public enum Mode: String, CaseIterable, Sendable {
        case include
        case exclude
    }

    /// What entries under `top` that match no pattern get.
    public enum Others: String, CaseIterable, Sendable {
        case include
        case exclude
        /// Leave the decision to later filters and the source selection.
        case keep
    }

    public var name: String
    public var location: SourceLocation
    /// Absolute path of the directory the rule applies under.
    public var top: String
    public var applyTo: [Target]
    public var match: Match
    public var patterns: [String]
    public var mode: Mode
    public var others: Others
}
