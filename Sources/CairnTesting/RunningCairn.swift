import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `cairn` process started and not waited for: a test stops it at a fault point
/// (`CAIRN_FAULT_INJECTION=POINT:N:STOP`), changes the file system, and lets it go on.
public final class RunningCairn: @unchecked Sendable {
    let process: Process
    let scratch: TemporaryDirectory
    let output: FileHandle
    let error: FileHandle

    public var pid: Int32 { process.processIdentifier }

    init(process: Process, scratch: TemporaryDirectory, output: FileHandle, error: FileHandle) {
        self.process = process
        self.scratch = scratch
        self.output = output
        self.error = error
    }

    /// The process state letter of /proc/PID/stat (`T` when stopped), nil once it is gone.
    public var state: Character? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.range(of: ") ", options: .backwards)
        else { return nil }
        return text[end.upperBound...].first
    }

    /// Waits until the process stops itself (true) or ends or `seconds` pass (false).
    public func waitUntilStopped(seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            switch state {
            case "T", "t": return true
            case nil, "Z", "X": return false
            default: usleep(2000)
            }
        }
        return false
    }

    public func resume() { kill(pid, SIGCONT) }

    /// Waits for the end and returns what it printed.
    public func wait() throws -> CairnProcess.Output {
        process.waitUntilExit()
        try output.close()
        try error.close()
        let outputData = FileManager.default.contents(atPath: scratch.subpath("out")) ?? Data()
        let errorData = FileManager.default.contents(atPath: scratch.subpath("err")) ?? Data()
        return CairnProcess.Output(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}

extension CairnProcess {
    /// Starts `cairn ARGUMENTS` in `directory` with `environment` added to this process's,
    /// without waiting for it. `prefix` runs the binary through another program, such as
    /// `setpriv` to drop root. Output goes to files, not pipes: a child that fills a pipe nobody
    /// reads would block.
    public func start(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        removing removed: [String] = [], prefix: [String] = []
    ) throws -> RunningCairn {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prefix.first ?? executable)
        process.arguments = prefix.isEmpty ? arguments : Array(prefix.dropFirst()) + [executable] + arguments
        var merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        for name in removed { merged[name] = nil }
        process.environment = merged
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let scratch = try TemporaryDirectory("cairn-output")
        _ = FileManager.default.createFile(atPath: scratch.subpath("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.subpath("err"), contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.subpath("out")))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.subpath("err")))
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return RunningCairn(process: process, scratch: scratch, output: output, error: error)
    }
}
