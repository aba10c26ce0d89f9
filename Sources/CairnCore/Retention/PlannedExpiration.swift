/// A snapshot that a plan says its run will expire, and why: the run expires exactly these
/// (retention is evaluated once, when the plan is made).
public struct PlannedExpiration: Codable, Sendable, Equatable {
    public var snapshot: String
    public var time: Timestamp
    public var reason: String
}
