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

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Runs one command; `variables` (CAIRN_SET, CAIRN_JOB_ID, CAIRN_STATUS) are added to its environment.
    public func run(_ command: Command, phase: String, variables: [String: String]) async -> Outcome {
        var merged = environment
        for (name, value) in command.environment { merged[name] = value }
        for (name, value) in variables { merged[name] = value }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-command-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: scratch.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command.run]
        process.environment = merged
        process.currentDirectoryURL = URL(fileURLWithPath: command.cwd ?? merged["HOME"] ?? "/")
        process.standardInput = FileHandle.nullDevice
        do {
            let handle = try FileHandle(forWritingTo: scratch)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            try handle.close()
        } catch {
            return Outcome(command: command, phase: phase, status: 127, timedOut: false, output: "cannot start: \(error)")
        }
        var timedOut = false
        if let timeout = command.timeout {
            let deadline = Date().addingTimeInterval(TimeInterval(timeout.seconds))
            while process.isRunning {
                if Date() >= deadline {
                    timedOut = true
                    process.terminate()
                    let grace = Date().addingTimeInterval(5)
                    while process.isRunning && Date() < grace { try? await Task.sleep(nanoseconds: 50_000_000) }
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    break
                }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: scratch, encoding: .utf8)) ?? ""
        return Outcome(command: command, phase: phase, status: process.terminationStatus, timedOut: timedOut, output: output)
    }
}
