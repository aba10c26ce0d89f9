import ArgumentParser
import CairnCore
import Foundation

/// What commands that work on backup sets share: loading the config (its problems printed as
/// `validate` prints them), choosing sets, and turning failures into messages and exit codes.
enum CommandSupport {
    /// The machine as this process sees it, read once: every command passes it down, so all
    /// of a run agrees about the time, the host and the environment. Changed only before any
    /// work starts (`run-due --now` sets its clock).
    nonisolated(unsafe) static var run = RunEnvironment.live()

    /// The valid config, or exit 1 after printing its problems.
    static func loadConfig(_ options: ConfigOptions) throws -> Config {
        let result = ConfigLoader(run).load(explicitPath: options.config)
        let formatter = DiagnosticFormatter(sources: result.sources, colour: ANSI.enabled(for: 2, environment: CommandSupport.run.variables))
        for problem in result.diagnostics.sorted where problem.severity == .error {
            Terminal.standardError(formatter.text(problem))
        }
        guard let config = result.config else {
            Terminal.standardError("cairn: the config is invalid; 'cairn validate' shows every problem")
            throw ExitCode(ExitStatus.error)
        }
        return config
    }

    /// The sets named, or every set bound to this host (or to no host) when none is.
    static func sets(_ names: [String], in config: Config) throws -> [String] {
        if names.isEmpty {
            let sets = config.backupSets(forHost: run.hostName).map(\.name)
            if sets.isEmpty { fail("no backup set runs on this host (\(run.hostName)); name a set") }
            return sets
        }
        return names
    }

    /// A path given on the command line, absolute against the run's folder and normalised.
    static func absolute(_ path: String) -> String {
        PathExpansion.normalize(path.hasPrefix("/") ? path : run.currentDirectory + "/" + path)
    }

    static func fail(_ message: String) -> Never {
        Terminal.standardError("cairn: error: \(message)")
        Foundation.exit(ExitStatus.error)
    }

    /// Runs `body`, printing a failure as one line; returns the exit status it implies.
    static func reporting(_ what: String, _ body: () async throws -> Int32) async -> Int32 {
        do {
            return try await body()
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            Terminal.standardError("cairn: error: \(what)\(what.isEmpty ? "" : ": ")\(error)")
            return ExitStatus.error
        }
    }

    /// Runs a job on one set through `JobRunner`: a set that is not in the config fails the
    /// same way, naming the job.
    static func job(
        _ config: Config, set: String, command: String, source: SourceOptions? = nil, uncached: Bool = false, traffic: Bool = false,
        _ body: (JobRunner) async -> JobOutcome
    ) async -> JobOutcome {
        do {
            var context = try SetContext(config: config, setName: set, run: run)
            source?.apply(to: &context)
            if uncached { context.usesCache = false }
            let outcome = await body(JobRunner(context, command: command))
            // What the job asked of an object store: requests cost money.
            let summary = context.traffic.summary
            if traffic && summary.total > 0 { print(summary.line) }
            return outcome
        } catch {
            return JobOutcome(.failed, failure: JobRunner.failure(of: command, set: set, error))
        }
    }

    /// Prints a failed outcome's reason and exits with the status it implies (none on success).
    /// While a command runs on every set with --json, each set's document is kept here and
    /// printed as one at the end (`printJSON`).
    nonisolated(unsafe) static var collectedJSON: [String]?

    /// Set by -q (`QuietOption`): standard output goes nowhere, so what is found wrong is told
    /// on standard error (`finding`).
    nonisolated(unsafe) static var quiet = false

    /// A line that says something is wrong (damage found, what it affects): on standard
    /// output, or on standard error with -q, where nothing else is shown.
    static func finding(_ line: String) {
        if quiet { Terminal.standardError(line) } else { print(line) }
    }

    /// Prints a --json document, or keeps it for the one printed when every set has run.
    static func printJSON(_ text: String) {
        if collectedJSON != nil { collectedJSON!.append(text) } else { print(text) }
    }

    /// Runs `body` on the set named, or, when none is, on every set bound to this host (or to
    /// no host), each under a `backup set 'NAME':` line; with --json, the sets' documents are
    /// printed as one (arrays joined, objects in an array). Exits with the worst status.
    static func forEachSet(
        _ set: String?, json: Bool, options: ConfigOptions, source: SourceOptions? = nil, command: String, holding paths: [String] = [],
        onePerPath: Bool = false, _ body: (Config, String) async -> JobOutcome
    ) async throws {
        if let set {
            let config = try source?.config(options, set: set) ?? loadConfig(options)
            try finish(await body(config, set))
            return
        }
        if source?.from != nil { fail("with --from, name the set: cairn \(command) SET --from DIR") }
        let config = try loadConfig(options)
        var names = try sets([], in: config)
        if !paths.isEmpty {
            // The sets whose sources hold a path.
            for path in paths {
                let holders = names.filter { holds(config, set: $0, path: path) }
                if holders.isEmpty {
                    fail("no backup set of this host backs up \(path) (its sets: \(names.joined(separator: ", "))); name the set: cairn \(command) SET \(path)")
                }
                // Two sets' versions of one path would be written over each other.
                if onePerPath, holders.count > 1 {
                    fail("\(path) is backed up by \(holders.count) sets (\(holders.joined(separator: ", "))), whose versions differ: name the set: cairn \(command) SET \(path)")
                }
            }
            names = names.filter { name in paths.contains { holds(config, set: name, path: $0) } }
        }
        if json { collectedJSON = [] }
        var outcomes: [JobOutcome] = []
        for (number, name) in names.enumerated() {
            if !json {
                if number > 0 { print("") }
                print("backup set '\(name)':")
            }
            let outcome = await body(config, name)
            if let failure = outcome.failure { Terminal.standardError("cairn: error: \(failure)") }
            outcomes.append(outcome)
        }
        if let documents = collectedJSON {
            collectedJSON = nil
            print(JSONOutput.joined(documents))
        }
        let status = exitStatus(JobOutcome.worst(outcomes))
        if status != 0 { throw ExitCode(status) }
    }

    /// The progress line of long work on standard error: redrawn on a terminal, a line every
    /// ten seconds otherwise; none with -q.
    static func progress(items: Int = 0, bytes: UInt64 = 0, noun: String, quiet: Bool) -> ProgressDisplay? {
        guard !quiet else { return nil }
        return ProgressDisplay(
            files: items, bytes: bytes, terminal: isatty(2) == 1, clock: run.clock, columns: Int(run.variables["COLUMNS"] ?? "") ?? 100, noun: noun
        ) {
            FileHandle.standardError.write(Data($0.utf8))
        }
    }

    /// The progress line of work whose size is known only once it starts (packs to read or to
    /// repack): `make` is the factory the work calls with its totals; on a terminal only.
    final class LateProgress: @unchecked Sendable {
        private var display: ProgressDisplay?
        private let noun: String
        private let shown: Bool

        init(noun: String, shown: Bool = true) {
            self.noun = noun
            self.shown = shown && !CommandSupport.quiet && isatty(2) == 1
        }

        func make(_ items: Int, _ bytes: UInt64) -> (any ProgressSink)? {
            guard shown else { return nil }
            display = CommandSupport.progress(items: items, bytes: bytes, noun: noun, quiet: false)
            return display
        }

        func clear() { display?.clear() }
    }

    /// Whether `path`, as typed, is a glob.
    static func isGlob(_ path: String) -> Bool { PathSelection.isGlob(FilePath(typed: path)) }

    /// Whether the set's sources hold `path` (it is a source, or inside or above one; a glob
    /// may match in any set).
    static func holds(_ config: Config, set: String, path: String) -> Bool {
        if isGlob(path) { return true }
        let chosen = FilePath(typed: PathExpansion.normalize(path))
        return config.backupSets[set]?.sources.contains { chosen.isInside(FilePath($0.value)) || FilePath($0.value).isInside(chosen) } ?? false
    }

    /// `cairn ls /path` or `cairn restore /path...`: a first argument that is a path (or a
    /// glob) is the first path, and no set is named.
    static func setAndPaths(_ set: String?, _ paths: [String]) -> (set: String?, paths: [String]) {
        guard let set, set.hasPrefix("/") || set.hasPrefix("*") else { return (set, paths) }
        return (nil, [set] + paths)
    }

    static func finish(_ outcome: JobOutcome) throws {
        if let failure = outcome.failure { Terminal.standardError("cairn: error: \(failure)") }
        let status = exitStatus(outcome)
        if status != 0 { throw ExitCode(status) }
    }

    static func exitStatus(_ outcome: JobOutcome) -> Int32 {
        switch outcome.status {
        case .success: return ExitStatus.success
        case .changes: return ExitStatus.changes
        case .incomplete: return ExitStatus.incomplete
        case .failed: return ExitStatus.error
        }
    }

    /// The worst of several statuses: 1 wins over 3, 3 over 2, 2 over 0.
    static func combine(_ statuses: [Int32]) -> Int32 {
        for status in [ExitStatus.error, ExitStatus.incomplete, ExitStatus.changes] where statuses.contains(status) { return status }
        return statuses.first { $0 != 0 } ?? 0
    }

    static func printProblems(_ problems: [Problem]) {
        for problem in problems { Terminal.standardError("cairn: warning: \(problem)") }
    }
}
