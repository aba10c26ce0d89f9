import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a set's pre- and post-backup commands (user guide 5.8) through `/bin/sh -c`, with a
/// working directory, a timeout and the job's variables in their environment.
public struct CommandRunner: Sendable {
    public struct Outcome: Sendable {
        public var command: Command
        public var phase: String
        public var status: Int32
        public var timedOut: Bool
        /// Standard output and standard error together, as the command wrote them.
        public var output: String

        public var succeeded: Bool { status == 0 && !timedOut }

        public var summary: String {
            let what = "\(phase)-command '\(command.name)'"
            if timedOut { return "\(what) was stopped after its timeout of \(command.timeout!)" }
            return status == 0 ? "\(what) succeeded" : "\(what) failed with exit status \(status)"
        }
    }

    public var environment: [String: String]
    public var processRunner: any ProcessRunning

    public init(environment: [String: String], processRunner: (any ProcessRunning)? = nil) {
        self.environment = environment
        self.processRunner = processRunner ?? ShellProcess()
    }

    /// Commands as `run` says: its variables, its runner.
    public init(_ run: RunEnvironment) {
        self.init(environment: run.variables, processRunner: run.processRunner)
    }

    /// Runs one command; `variables` (CAIRN_SET, CAIRN_JOB_ID, CAIRN_STATUS) are added to its environment.
    public func run(_ command: Command, phase: String, variables: [String: String]) async -> Outcome {
        var merged = environment
        for (name, value) in command.environment { merged[name] = value }
        for (name, value) in variables { merged[name] = value }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-command-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let exit: ProcessExit
        do {
            exit = try await processRunner.run(
                command.run, directory: command.cwd ?? merged["HOME"] ?? "/", environment: merged, output: scratch,
                timeout: command.timeout.map { TimeInterval($0.seconds) })
        } catch {
            return Outcome(command: command, phase: phase, status: 127, timedOut: false, output: "cannot start: \(error)")
        }
        let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
        return Outcome(command: command, phase: phase, status: exit.status, timedOut: exit.timedOut, output: output)
    }
}
