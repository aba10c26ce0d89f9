import Foundation

/// Runs the built `cairn` binary, as end-to-end tests do.
public struct CairnProcess: Sendable {
    public struct Output: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        public init(status: Int32, standardOutput: String, standardError: String) {
            self.status = status
            self.standardOutput = standardOutput
            self.standardError = standardError
        }

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
        try start(arguments, in: directory, environment: environment, removing: removed, prefix: prefix).wait()
    }
}
