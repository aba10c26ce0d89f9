import Foundation
import Synchronization

/// What a run takes from the machine it runs on: the time, the host's and user's names, the
/// time zone, the environment variables, the current folder and the runner of commands.
///
/// Commands make one (`live()`) and pass it down; nothing in CairnCore reads the real clock,
/// host, zone or environment except through it. Tests and `--now` pass their own, so plan and
/// apply agree about "now", and schedules can be evaluated at any time.
public struct RunEnvironment: Sendable {
    public var clock: any WallClock
    /// The short host name, as `host:` in a backup set names it.
    public var hostName: String
    public var userName: String
    public var timeZone: TimeZone
    public var variables: [String: String]
    public var currentDirectory: String
    /// Runs pre- and post-commands; nil runs them with `/bin/sh` (Execute's `ShellProcess`).
    public var processRunner: (any ProcessRunning)?

    public init(
        clock: any WallClock, hostName: String, userName: String, timeZone: TimeZone, variables: [String: String], currentDirectory: String,
        processRunner: (any ProcessRunning)? = nil
    ) {
        self.clock = clock
        self.hostName = hostName
        self.userName = userName
        self.timeZone = timeZone
        self.variables = variables
        self.currentDirectory = currentDirectory
        self.processRunner = processRunner
    }

    private static func passwordHome() -> String? {
        guard let entry = getpwuid(geteuid()), let home = entry.pointee.pw_dir else { return nil }
        let path = String(cString: home)
        return path.hasPrefix("/") ? path : nil
    }

    /// Now, by this run's clock.
    public var now: Date { clock.now() }

    /// The user's home folder: `HOME`, else the account's entry in the password database.
    public var homeDirectory: String? {
        if let home = variables["HOME"], home.hasPrefix("/") { return home }
        return passwordHome
    }

    /// Whether the process runs as root: its run state is the system's, in /var/lib/cairn.
    public var isSuperuser = false

    /// Where cairn keeps this machine's run state (the repositories its sets used, job
    /// reports, scheduled runs): `$XDG_STATE_HOME/cairn`, by default `~/.local/state/cairn`,
    /// and `/var/lib/cairn` for root.
    public var stateDirectory: String? {
        if let explicit = variables["XDG_STATE_HOME"], explicit.hasPrefix("/") { return explicit + "/cairn" }
        if isSuperuser { return "/var/lib/cairn" }
        return homeDirectory.map { $0 + "/.local/state/cairn" }
    }

    /// Where root's run state was kept before /var/lib/cairn (`~root/.local/state/cairn`):
    /// still read, never written.
    public var earlierStateDirectory: String? {
        guard isSuperuser, variables["XDG_STATE_HOME"].map({ !$0.hasPrefix("/") }) ?? true else { return nil }
        return homeDirectory.map { $0 + "/.local/state/cairn" }
    }

    /// Where files that live only as long as the run go (spill files): $TMPDIR, or /tmp.
    public var temporaryDirectory: String { variables["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp" }

    /// Where cairn keeps caches it can rebuild: `$XDG_CACHE_HOME/cairn`, by default `~/.cache/cairn`.
    public var cacheDirectory: String? { baseDirectory("XDG_CACHE_HOME", else: ".cache").map { $0 + "/cairn" } }

    private func baseDirectory(_ variable: String, else underHome: String) -> String? {
        if let explicit = variables[variable], explicit.hasPrefix("/") { return explicit }
        return homeDirectory.map { $0 + "/" + underHome }
    }

    /// The home folder the password database gives this process's user (read once, by `live()`).
    var passwordHome: String?

    /// This machine and process, now.
    public static func live() -> RunEnvironment {
        let full = ProcessInfo.processInfo.hostName
        var run = RunEnvironment(
            clock: SystemClock(), hostName: String(full.split(separator: ".").first ?? Substring(full)), userName: ProcessInfo.processInfo.userName,
            timeZone: .current, variables: ProcessInfo.processInfo.environment, currentDirectory: FileManager.default.currentDirectoryPath)
        run.passwordHome = passwordHome()
        run.isSuperuser = geteuid() == 0
        return run
    }

    /// The same machine with other values: for tests.
    public func with(
        clock: (any WallClock)? = nil, hostName: String? = nil, variables: [String: String]? = nil, timeZone: TimeZone? = nil
    ) -> RunEnvironment {
        var copy = self
        if let clock { copy.clock = clock }
        if let hostName { copy.hostName = hostName }
        if let variables { copy.variables = variables }
        if let timeZone { copy.timeZone = timeZone }
        return copy
    }
}

/// The time of day, as a run sees it.
public protocol WallClock: Sendable {
    func now() -> Date
    /// Returns at `date` by this clock or soon after (it may return earlier: callers check
    /// `now()`); throws CancellationError when the task is cancelled.
    func sleep(until date: Date) async throws
}

/// The system's clock: the only reader of the real time in CairnCore.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }

    public func sleep(until date: Date) async throws {
        let seconds = date.timeIntervalSince(now())
        guard seconds > 0 else { return }
        // The wall clock may be set meanwhile: wake at least every minute to look again.
        try await Task.sleep(nanoseconds: UInt64(min(seconds, 60) * 1e9))
    }
}

/// The system's clock moved by a fixed offset: `--now TIME` starts at TIME and runs on from
/// there, so a run evaluated "as if it were TIME" still measures how long it takes.
public struct OffsetClock: WallClock {
    public let offset: TimeInterval

    /// A clock that reads `start` now.
    public init(startingAt start: Date) {
        offset = start.timeIntervalSince(SystemClock().now())
    }

    public func now() -> Date { SystemClock().now().addingTimeInterval(offset) }

    public func sleep(until date: Date) async throws {
        try await SystemClock().sleep(until: date.addingTimeInterval(-offset))
    }
}

/// A clock that shows what it is set to (tests, `--now`), moved only when told; a sleeper
/// wakes when the clock is moved.
public final class ManualClock: WallClock, Sendable {
    private let time: Mutex<Date>
    private let sleepers = WaitList()

    public init(_ time: Date) {
        self.time = Mutex(time)
    }

    public func now() -> Date { time.withLock { $0 } }

    public func set(_ date: Date) {
        time.withLock { $0 = date }
        sleepers.wakeAll()
    }

    public func advance(by interval: TimeInterval) {
        time.withLock { $0 = $0.addingTimeInterval(interval) }
        sleepers.wakeAll()
    }

    /// Returns when the clock is next moved (or at once when `date` has come).
    public func sleep(until date: Date) async throws {
        await sleepers.wait { now() >= date }
        try Task.checkCancellation()
    }
}

/// How a command ended.
public struct ProcessExit: Sendable, Equatable {
    public var status: Int32
    public var timedOut: Bool

    public init(status: Int32, timedOut: Bool) {
        self.status = status
        self.timedOut = timedOut
    }
}

/// Runs a shell command line in `directory` with `environment`, its standard output and error
/// going to the file `output`, stopped (with everything it started) after `timeout` seconds.
public protocol ProcessRunning: Sendable {
    func run(_ command: String, directory: String, environment: [String: String], output: String, timeout: TimeInterval?) async throws -> ProcessExit
}
