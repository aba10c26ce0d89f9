import Foundation

/// Runs the built `cairn` binary, as end-to-end tests do.
public struct CairnProcess: Sendable {
    public struct Output: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        /// Standard output and standard error together, for checks that do not care which.
        public var all: String { standardOutput + standardError }
    }

    public let executable: String

    /// The binary beside the test bundle (`.build/debug/cairn`), or `CAIRN_BINARY`.
    public init() {
        if let explicit = ProcessInfo.processInfo.environment["CAIRN_BINARY"] {
            executable = explicit
            return
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("cairn").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                break
            }
            directory.deleteLastPathComponent()
        }
        executable = directory.appendingPathComponent("cairn").path
    }

    /// Runs `cairn ARGUMENTS` in `directory` with `environment` added to this process's.
    /// `prefix` runs the binary through another program, such as `setpriv` to drop root.
    public func run(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        removing removed: [String] = [], prefix: [String] = []
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prefix.first ?? executable)
        process.arguments = prefix.isEmpty ? arguments : Array(prefix.dropFirst()) + [executable] + arguments
        var merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        for name in removed { merged[name] = nil }
        process.environment = merged
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // Files rather than pipes: a child that fills a pipe nobody reads would block.
        let scratch = try TemporaryDirectory("cairn-output")
        _ = FileManager.default.createFile(atPath: scratch.subpath("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.subpath("err"), contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.subpath("out")))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.subpath("err")))
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try output.close()
        try error.close()
        let outputData = FileManager.default.contents(atPath: scratch.subpath("out")) ?? Data()
        let errorData = FileManager.default.contents(atPath: scratch.subpath("err")) ?? Data()
        return Output(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}
