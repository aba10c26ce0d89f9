import Foundation

/// What this machine remembers of a set's runs by `cairn run-due`, one JSON file per set under
/// the run state (`STATE/schedule/SET-XXXXXXXX.json`, the suffix from the repository's
/// place, so two configs' sets of one name are told apart), written crash-safely.
public struct ScheduleState: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public struct Running: Codable, Sendable, Equatable {
        /// The firing the run serves; nil for an off-line run.
        public var firing: Date?
        public var start: Date
        public var pid: Int32
        /// The how-manieth run for this firing (runs killed before it).
        public var attempts: Int?

        public init(firing: Date?, start: Date, pid: Int32, attempts: Int) {
            self.firing = firing
            self.start = start
            self.pid = pid
            self.attempts = attempts
        }
    }

    public struct Run: Codable, Sendable, Equatable {
        public var firing: Date?
        public var start: Date
        public var end: Date
        /// `success`, `changes`, `incomplete`, `partial` (stopped, not tried again) or `failed`.
        public var outcome: String
        public var reason: String
        public var failure: String?

        public init(firing: Date?, start: Date, end: Date, outcome: String, reason: String, failure: String?) {
            self.firing = firing
            self.start = start
            self.end = end
            self.outcome = outcome
            self.reason = reason
            self.failure = failure
        }
    }

    public var version = ScheduleState.currentVersion
    public var set: String
    public var repository: String
    /// When run-due first saw the set: firings before it are not owed a run.
    public var firstSeen: Date
    /// The last firing a run was started for and ended (whatever its outcome).
    public var lastFiring: Date?
    /// A run started and not yet ended: still going, or killed (then its firing is owed again).
    public var running: Running?
    public var lastRun: Run?
    public var lastSuccess: Date?
    public var lastFailure: Date?
    /// Stale reminders sent, by notify channel: the last success (or, never backed up, the
    /// first sight) each was about, so that each stale spell is told once.
    public var staleReminders: [String: Date]?
    /// Stale reminders a channel did not take, by channel: when last tried.
    public var staleAttempts: [String: Date]?
    /// The last firing of the set's verify schedule that a verify served.
    public var lastVerifyFiring: Date?
    public var lastVerify: Run?
    /// The slice of the packs the next scheduled verify reads, and of how many.
    public var verifySlice: Int?
    public var verifySlices: Int?
    /// A scheduled verify started and not yet ended (killed, when no process holds the set).
    public var verifyRunning: Running?

    public init(set: String, repository: String, firstSeen: Date) {
        self.set = set
        self.repository = repository
        self.firstSeen = firstSeen
    }

    /// Firings up to this are served.
    public var servedThrough: Date { max(lastFiring ?? firstSeen, firstSeen) }
}

/// A state file that cannot be read: the set is not run until it is removed (its schedule then
/// starts afresh, as on the first sight), and the other sets run as usual.
public struct Unreadable: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "the run state \(path) cannot be read (\(reason)); remove it to start the set's schedule afresh" }
}

/// Reading and writing `ScheduleState`, and claiming a set so that two `run-due` processes
/// never run it at once.
public struct ScheduleStateStore: Sendable {
    /// nil when there is no state folder (no home, no XDG_STATE_HOME): run-due then refuses.
    public let directory: String?

    public init(run: RunEnvironment) {
        directory = run.stateDirectory.map { $0 + "/schedule" }
    }

    /// The state file's name for a set: its name and a hash of its repository's place.
    func base(for context: SetContext) -> String? {
        guard let directory else { return nil }
        let safe = String(context.set.name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(64))
        let hash = Hashing.sha256(Array(context.repositoryPath.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "\(directory)/\(safe)-\(hash)"
    }

    public func read(_ context: SetContext) throws -> ScheduleState? {
        guard let base = base(for: context) else { return nil }
        guard let data = FileManager.default.contents(atPath: base + ".json") else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(ScheduleState.self, from: data)
        } catch let error as DecodingError {
            throw Unreadable(path: base + ".json", reason: error.inWords)
        }
    }

    public func write(_ state: ScheduleState, for context: SetContext) throws {
        guard let base = base(for: context) else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        try DurableFile.write(try encoder.encode(state), to: base + ".json")
    }

    /// Holds a set for one run-due process: an exclusive lock on `SET-XXXXXXXX.lock`, which the
    /// system releases when the process ends, however it ends.
    public final class Claim: Sendable {
        let descriptor: Int32

        init(descriptor: Int32) {
            self.descriptor = descriptor
        }

        deinit {
            close(descriptor)
        }
    }

    /// The set's claim, or nil when another process holds it.
    public func claim(_ context: SetContext) throws -> Claim? {
        guard let base = base(for: context) else { throw RepositoryError.unsupported("there is no run state folder (set HOME or XDG_STATE_HOME)") }
        try FileManager.default.createDirectory(atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let descriptor = open(base + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw DurableFile.Failure(description: "cannot open \(base).lock: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        return Claim(descriptor: descriptor)
    }
}
