import Foundation

/// The config `cairn init` writes for someone who does not write YAML yet: one account, one
/// encryption profile, one backup set, and the schedule and retention the first-run wizard
/// offers as presets. `yaml` renders it commented, each section explained in a line.
public struct StarterConfig: Sendable {
    public enum Destination: Sendable, Equatable {
        /// An absolute local folder.
        case folder(String)
        /// `s3://BUCKET/PREFIX`.
        case s3(String)
    }

    public var setName: String
    public var destination: Destination
    /// Absolute paths.
    public var sources: [String]
    public var schedule: SchedulePreset
    public var retention: RetentionPreset
    public var algorithm: EncryptionProfile.Algorithm
    /// The key file's absolute path; nil with the algorithm `none`.
    public var keyFile: String?
    /// The zone of schedule times and retention days (the system's when nil).
    public var timeZone: String?
    /// The `$schema=` of the first line: the path or URL of schemas/cairn.schema.json.
    public var schema: String

    public init(
        setName: String, destination: Destination, sources: [String], schedule: SchedulePreset, retention: RetentionPreset,
        algorithm: EncryptionProfile.Algorithm, keyFile: String?, timeZone: String?, schema: String
    ) {
        self.setName = setName
        self.destination = destination
        self.sources = sources
        self.schedule = schedule
        self.retention = retention
        self.algorithm = algorithm
        self.keyFile = keyFile
        self.timeZone = timeZone
        self.schema = schema
    }

    /// The schema's published address, for a `cairn` whose schemas/ folder is not at hand.
    public static let schemaAddress = "https://cairn.invalid/schemas/cairn.schema.json"

    public static let defaultSetName = "home"

    /// The account's name: what kind of place the destination is.
    public var accountName: String {
        switch destination {
        case .folder: return "local"
        case .s3: return "bucket"
        }
    }

    /// A local destination under a source: left out of the set (`exclude:`), or every backup
    /// would store the backups made before it.
    public var excludes: [String] {
        guard case .folder(let folder) = destination else { return [] }
        return sources.contains { StarterAnswers.isUnder(folder, $0) } ? [folder] : []
    }
}

/// When the set runs: `cairn run-due`, called by cron, backs it up at these times.
public enum SchedulePreset: Sendable, Equatable, CustomStringConvertible {
    case daily(at: TimeOfDay)
    case hourly
    /// No schedule: the user runs `cairn backup`.
    case none

    /// A time in the night, before the spring-forward gaps of Europe and America (02:00).
    public static let dailyTime = TimeOfDay(hour: 1, minute: 0)

    /// The schedule's name in the config; nil for none.
    public var name: String? {
        switch self {
        case .daily: return "daily"
        case .hourly: return "hourly"
        case .none: return nil
        }
    }

    /// How the answer is written back: `daily`, `21:30`, `hourly`, `none`.
    public var answer: String {
        switch self {
        case .daily(let time): return time == Self.dailyTime ? "daily" : time.description
        case .hourly: return "hourly"
        case .none: return "none"
        }
    }

    public var description: String {
        switch self {
        case .daily(let time): return "daily at \(time)"
        case .hourly: return "every hour"
        case .none: return "none (you run cairn backup)"
        }
    }
}

/// How long snapshots stay: the user guide's standard and advanced policies as presets.
public enum RetentionPreset: Sendable, Equatable, CustomStringConvertible {
    /// Each of the last 7 days, the last 4 Saturdays, the 1st of the last 12 months.
    case standard
    /// The user guide's advanced example: 7 days, 4 Saturdays, 3 months, 4 quarters, 7 years,
    /// overlap removed.
    case tapeRotation
    /// Every snapshot of the last N days (the guide's standard policy).
    case days(Int)
    /// Nothing expires.
    case keepAll

    /// The policy's name in the config; nil for keep-all.
    public var name: String? {
        switch self {
        case .standard: return "standard"
        case .tapeRotation: return "tape-rotation"
        case .days(let count): return "\(count)-days"
        case .keepAll: return nil
        }
    }

    public var answer: String { name ?? "keep-all" }

    public var description: String {
        switch self {
        case .standard: return "standard: the files as they were on each of the last 7 days, the last 4 Saturdays and the 1st of the last 12 months"
        case .tapeRotation: return "tape-rotation: each of the last 7 days, 4 Saturdays, 3 months (the 1st), 4 quarters and 7 years (1 January)"
        case .days(let count): return "\(count)-days: every snapshot of the last \(count) day\(count == 1 ? "" : "s")"
        case .keepAll: return "keep-all: no snapshot is ever expired"
        }
    }
}
