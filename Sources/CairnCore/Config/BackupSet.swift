import Foundation

/// A backup set: what to back up, where to, when, and how.
public struct BackupSet: Sendable {
    public var name: String
    public var location: SourceLocation
    public var account: Located<String>
    /// The folder under the account's destination; the set's name unless `repository:` says otherwise.
    public var repository: String
    /// Scheduled and default runs happen only on this host (its short hostname); nil means any host.
    public var host: Located<String>?
    /// Absolute paths of the selected sources.
    public var sources: [Located<String>]
    /// Absolute paths of deselected sources.
    public var exclude: [Located<String>]
    public var filters: [Located<String>]
    public var schedules: [Located<String>]
    public var retention: Located<String>?
    /// The encryption profile's name: `encryption:`, or `default` when the set names none.
    public var encryption: Located<String>
    public var compression: Compression
    public var inFileDelta: InFileDelta
    public var commands: Commands
    public var followSymlinks: Bool
    public var permissions: Bool
    /// `local-copy:`: a second repository on another disk (user guide 5.16).
    public var localCopy: LocalCopyTarget?
    /// Where each job's report goes; empty when nowhere.
    public var notify: [Notify]
    /// Sources declared `optional: true`: their absence is a warning, and their entries are
    /// carried over from the previous snapshot.
    public var optionalSources: Set<String> = []
    /// A run that would record more than this share of the previous snapshot's files as
    /// removed stops before it saves anything; nil: `off`.
    public var maxRemoved: Percentage? = Percentage(50)
    /// `cairn run-due` runs the set whenever its last successful backup is older than this
    /// (the user guide's off-line backup: a laptop that was off at its scheduled times).
    public var offlineInterval: ConfigDuration? = nil
    /// `cairn run-due` verifies the set's repository when this schedule fires.
    public var verify: VerifySchedule? = nil

    /// Whether `cairn run-due` has anything to do for the set: back it up on a schedule or
    /// after its off-line interval, verify it, or remind that it has gone stale.
    public var needsRunDue: Bool {
        !schedules.isEmpty || offlineInterval != nil || verify != nil || notify.contains { $0.staleAfter != nil }
    }
}

/// Where a set's local copy goes: the folder holds one repository per set
/// (`DIR/REPOSITORY`), kept a mirror of the set's repository after each backup; with `only`,
/// the backup goes there alone and the account's destination is not used.
public struct LocalCopyTarget: Sendable {
    public var path: Located<String>
    public var only: Bool

    public init(path: Located<String>, only: Bool) {
        self.path = path
        self.only = only
    }
}

/// A set's periodic validation (`verify: {schedule: NAME, read-data: 10%}`): when its
/// schedule fires, run-due checks the repository's structure and reads the next slice of its
/// packs, so that a cycle of runs reads every pack (10% makes ten slices).
public struct VerifySchedule: Sendable {
    public var location: SourceLocation
    public var schedule: Located<String>
    /// The share of the packs each run reads; nil checks the structure only.
    public var readData: Percentage?

    /// How many runs read every pack once: 10% makes 10, 30% makes 4.
    public var slices: Int? {
        readData.map { max(1, Int((100 / $0.value).rounded(.up))) }
    }
}

/// How stored data is compressed: `zstd` (default; level 3, or 2 for pieces past 256 KiB),
/// `zlib` (level 6) or `none`, as `NAME[:LEVEL]`.
public struct Compression: Hashable, Sendable, CustomStringConvertible {
    public enum Algorithm: String, CaseIterable, Sendable {
        case zstd, zlib, none

        /// The levels the algorithm accepts. Without one, zstd's is 3, or 2 for pieces past
        /// 256 KiB (`Compressor.defaultZstdLevel(size:)`), and zlib's is 6.
        public var levels: ClosedRange<Int>? {
            switch self {
            case .zstd: return 1...22
            case .zlib: return 1...9
            case .none: return nil
            }
        }
    }

    /// zstd at its default levels (`Compressor.defaultZstdLevel(size:)`).
    public static let `default` = Compression(algorithm: .zstd, level: nil)

    public var algorithm: Algorithm
    public var level: Int?

    public init(algorithm: Algorithm, level: Int?) {
        self.algorithm = algorithm
        self.level = level
    }

    public var description: String {
        level.map { "\(algorithm.rawValue):\($0)" } ?? algorithm.rawValue
    }
}

/// In-file delta settings (user guide chapter 8).
public struct InFileDelta: Hashable, Sendable {
    public enum Mode: String, CaseIterable, Sendable {
        /// Each delta is against the latest stored version.
        case incremental
        /// Each delta is against the last full upload.
        case differential
        case off
    }

    public enum BlockSize: Hashable, Sendable, CustomStringConvertible {
        /// By file size: up to 500M 4 KiB, 2G 8 KiB, 8G 16 KiB, 15G 32 KiB, above that 64 KiB.
        case auto
        case fixed(ByteSize)

        public var description: String {
            switch self {
            case .auto: return "auto"
            case .fixed(let size): return size.description
            }
        }
    }

    /// A day a full upload is forced on.
    public enum FullOnDay: Hashable, Sendable, CustomStringConvertible {
        case weekday(Weekday)
        case dayOfMonth(Int)

        public var description: String {
            switch self {
            case .weekday(let day): return day.rawValue
            case .dayOfMonth(let day): return "{day: \(day)}"
            }
        }
    }

    public static let off = InFileDelta(mode: .off)

    public var mode: Mode
    public var blockSize: BlockSize = .auto
    public var minSize = ByteSize(bytes: 25_000_000)
    /// A full upload once more deltas than this were made since the last full; nil is `off`.
    public var maxDeltas: Int? = 100
    /// A full upload once a delta's new data is more than this share of the file; nil is `off`.
    public var maxDeltaRatio: Percentage? = Percentage(50)
    public var fullOn: [FullOnDay] = []
}

/// Pre- and post-backup commands (user guide 5.8).
public struct Commands: Sendable {
    public var pre: [Command] = []
    public var post: [Command] = []

    public init(pre: [Command] = [], post: [Command] = []) {
        self.pre = pre
        self.post = post
    }
}

public struct Command: Sendable {
    public enum OnFailure: String, CaseIterable, Sendable {
        /// A failing pre-command stops the job; a failing post-command marks it failed.
        case abort
        /// The failure is reported and the job goes on.
        case `continue`
    }

    public var name: String
    public var location: SourceLocation
    /// A shell command line, run by `/bin/sh -c`.
    public var run: String
    /// The working directory; the user's home when nil.
    public var cwd: String?
    public var timeout: ConfigDuration?
    /// Extra environment variables, in the order written.
    public var environment: [(name: String, value: String)]
    public var onFailure: OnFailure
}

/// Where the report of each job is sent (`notify:`, one channel or a list of them), for which
/// outcomes, and whether run-due reminds when a set has had no successful backup for a while.
public struct Notify: Sendable {
    /// How a job ended, as `when:` names it.
    public enum Outcome: String, CaseIterable, Sendable, Codable {
        /// It stored nothing usable: failed, or cancelled before a snapshot.
        case failure
        /// A snapshot was saved but not the whole truth: files that could not be read, a run
        /// stopped at its limit (partial), or files that changed since the plan.
        case problems
        /// Complete, or nothing to do.
        case success
    }

    public enum Channel: Sendable {
        /// A shell command that reads the report as JSON on its standard input.
        case command(String)
        case email(Email)
        case webhook(Webhook)
    }

    public struct Email: Sendable {
        public var to: [String]
        /// The sender's address; the sendmail program's default when nil.
        public var from: String?
        /// The program with sendmail's interface (`sendmail -i -- RECIPIENT...`).
        public var sendmail: String
    }

    public struct Webhook: Sendable {
        public enum Style: String, CaseIterable, Sendable {
            /// One POST of the JSON report when a job ends.
            case report
            /// Healthchecks-style pings: POST URL/start when a job starts, and when it ends
            /// POST the report to URL/0 on success or URL/EXIT-STATUS otherwise.
            case healthchecks
        }

        public enum Address: Sendable {
            case literal(String)
            /// A URL that carries a token, from outside the config.
            case secret(SecretReference)
        }

        public var url: Address
        public var style: Style
    }

    public var location: SourceLocation
    public var channel: Channel
    /// The outcomes whose reports are sent; all three by default.
    public var when: [Outcome]
    /// run-due notifies once when the set has had no successful backup for this long.
    public var staleAfter: ConfigDuration?
    /// How long sending may take before it is given up (default 1 minute).
    public var timeout: ConfigDuration

    /// Healthchecks-style pings go for every job, whatever `when` says.
    public var pingsEveryJob: Bool {
        if case .webhook(let hook) = channel { return hook.style == .healthchecks }
        return false
    }

    public static let defaultSendmail = "/usr/sbin/sendmail"
    public static let defaultTimeout = ConfigDuration(seconds: 60)

    /// The channel for messages: `command`, `email to a@b`, `webhook https://host/…` (never a
    /// URL's path, which often is a token).
    public var channelDescription: String {
        switch channel {
        case .command: return "command"
        case .email(let email): return "email to \(email.to.joined(separator: ", "))"
        case .webhook(let hook):
            switch hook.url {
            case .literal(let url): return "webhook \(Self.maskedURL(url))"
            case .secret(let reference): return "webhook \(reference)"
            }
        }
    }

    /// A URL shown without its path and query: `https://hc-ping.com/…`.
    public static func maskedURL(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(a URL)" }
        let port = components.port.map { ":\($0)" } ?? ""
        let rest = components.path.isEmpty && components.query == nil ? "" : "/…"
        return "\(scheme)://\(host)\(port)\(rest)"
    }
}
