import Foundation

/// The whole, merged configuration: every kind of definition by name.
///
/// Values are normalised: paths are absolute with `~` and `${VAR}` expanded, defaults are filled
/// in, and each definition remembers where it was written so later checks can point there.
public struct Config: Sendable {
    public static let supportedVersion = 1

    public var version: Int
    /// The zone schedule times, retention days and `--at` times are read in.
    public var timeZone: TimeZone
    /// The zone's name as written (`TimeZone` may report another alias, such as GMT for UTC).
    public var timeZoneName: String
    /// Where `timezone:` was written, or nil when the system's zone is used.
    public var timeZoneLocation: SourceLocation?
    /// A Prometheus text-format file for node_exporter's textfile collector, rewritten after
    /// every backup job and every run-due call (`metrics-file:`).
    public var metricsFile: Located<String>?
    public var accounts: [String: Account]
    public var encryption: [String: EncryptionProfile]
    public var filters: [String: Filter]
    public var schedules: [String: Schedule]
    public var retention: [String: RetentionPolicy]
    public var backupSets: [String: BackupSet]
    /// The files the config was read from, in the order merged.
    public var files: [String]

    public init(
        version: Int = Config.supportedVersion, timeZone: TimeZone, timeZoneLocation: SourceLocation? = nil,
        accounts: [String: Account] = [:], encryption: [String: EncryptionProfile] = [:],
        filters: [String: Filter] = [:], schedules: [String: Schedule] = [:],
        retention: [String: RetentionPolicy] = [:], backupSets: [String: BackupSet] = [:], files: [String] = []
    ) {
        self.version = version
        self.timeZone = timeZone
        self.timeZoneName = timeZone.identifier
        self.timeZoneLocation = timeZoneLocation
        self.accounts = accounts
        self.encryption = encryption
        self.filters = filters
        self.schedules = schedules
        self.retention = retention
        self.backupSets = backupSets
        self.files = files
    }

    /// The sets whose scheduled and default runs belong to `host`: those bound to it or to no host.
    public func backupSets(forHost host: String) -> [BackupSet] {
        backupSets.values.filter { $0.host == nil || $0.host?.value == host }.sorted { $0.name < $1.name }
    }
}

/// Where a backup set's data goes.
public struct Account: Sendable {
    public var name: String
    public var location: SourceLocation
    public var destination: Destination
    /// For an `s3://` destination: its endpoint, region, addressing and credentials.
    public var s3: S3Options? = nil
    /// For an `https://` destination (a cairn server): its account, password, CA and proxy.
    public var server: ServerOptions? = nil
}

/// An account's destination, written as a path or a URL.
///
/// Local folders are built in; other schemes are recognised so that their backends can arrive
/// as additions without changing how configs are written.
public enum Destination: Hashable, Sendable, CustomStringConvertible {
    /// An absolute path to a local folder (from `/path`, `~/path`, a relative path, or `file:///path`).
    case localFolder(String)
    /// A URL whose scheme cairn knows but whose backend is not built yet.
    case remote(scheme: String, url: String)

    /// Schemes that will name remote backends; accepted by `validate` with a warning until built.
    public static let plannedSchemes: Set<String> = ["s3", "https", "sftp"]

    public var description: String {
        switch self {
        case .localFolder(let path): return path
        case .remote(_, let url): return url
        }
    }
}
