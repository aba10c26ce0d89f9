/// Which writer made a snapshot: its set, host and sources. Two configs that share a
/// repository, or a set whose sources changed, make snapshots of different groups; retention
/// keeps the newest complete snapshot of every group the config no longer produces.
public struct SnapshotGroup: Hashable, Sendable {
    public var set: String
    public var host: String
    public var sources: [String]

    public init(set: String, host: String, sources: [String]) {
        self.set = set
        self.host = host
        self.sources = sources.sorted()
    }

    public init(_ snapshot: Snapshot) {
        self.init(set: snapshot.set, host: snapshot.host, sources: snapshot.sources)
    }

    /// A stable text key (NUL cannot appear in any part).
    public var key: String { ([set, host] + sources).joined(separator: "\u{0}") }

    /// For people: `host laptop, sources /a, /b`.
    public var text: String { "host \(host), sources \(sources.joined(separator: ", "))" }
}
