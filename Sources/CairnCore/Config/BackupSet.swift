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
    public var localCopy: Located<String>?
    public var notify: Notify?
    /// Sources declared `optional: true`: their absence is a warning, and their entries are
    /// carried over from the previous snapshot.
    public var optionalSources: Set<String> = []
    /// A run that would record more than this share of the previous snapshot's files as
    /// removed stops before it saves anything; nil: `off`.
    public var maxRemoved: Percentage? = Percentage(50)
    /// `cairn run-due` runs the set whenever its last successful backup is older than this
    /// (the user guide's off-line backup: a laptop that was off at its scheduled times).
    public var offlineInterval: ConfigDuration? = nil
}

/// How stored data is compressed: `zstd` (default; level 3, or 4 for pieces under 512 KiB),
/// `zlib` (level 6) or `none`, as `NAME[:LEVEL]`.
public struct Compression: Hashable, Sendable, CustomStringConvertible {
    public enum Algorithm: String, CaseIterable, Sendable {
        case zstd, zlib, none

        /// The levels the algorithm accepts. Without one, zstd's depends on the piece's size
        /// (`Compressor.automaticZstdLevel(forSize:)`) and zlib's is 6.
        public var levels: ClosedRange<Int>? {
            switch self {
            case .zstd: return 1...22
            case .zlib: return 1...9
            case .none: return nil
            }
        }
    }

    /// zstd at its automatic level (`Compressor.automaticZstdLevel(forSize:)`).
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

/// How the report of each job is sent on.
public struct Notify: Sendable {
    public var location: SourceLocation
    /// A shell command that reads the report on its standard input.
    public var command: String
}
