import Foundation

/// `cairn` run on a pseudo-terminal, as a person at a terminal runs it: a conversation of
/// expected texts and typed answers, held by Tests/Terminal/session.py (Python's `pty`). Each
/// answer is typed only once the text before it has appeared, so a prompt that turns echo off
/// is typed into as a person would.
public struct TerminalSession: Sendable {
    public enum Step: Sendable {
        /// Wait until this text appears after what the previous expect matched.
        case expect(String)
        /// Type this (with "\n" to end a line).
        case send(String)
    }

    public struct Result: Sendable {
        /// The exit status; nil when a signal ended the program.
        public var status: Int32?
        public var signal: Int32?
        /// Everything the terminal showed (what was typed included, as the terminal echoed it),
        /// with "\r\n" as "\n".
        public var output: String
        /// Why the conversation failed (a text that never appeared); nil when it went through.
        public var failure: String?
        /// Whether the terminal echoed typing once the program had ended.
        public var echo: Bool?
    }

    public let cairn: CairnProcess

    public init(_ cairn: CairnProcess = CairnProcess()) {
        self.cairn = cairn
    }

    /// Runs `cairn ARGUMENTS` in `directory` with `environment` added to this process's.
    public func run(_ arguments: [String], in directory: String, environment: [String: String] = [:], steps: [Step], timeout: Int = 120) throws -> Result {
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let spec: [String: Any] = [
            "argv": [cairn.executable] + arguments, "cwd": directory, "env": merged, "timeout": timeout,
            "steps": steps.map { step -> [String: String] in
                switch step {
                case .expect(let text): return ["expect": text]
                case .send(let text): return ["send": text]
                }
            },
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SourceTree.path("Tests/Terminal/session.py")]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: spec))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let report = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt, userInfo: [NSDebugDescriptionErrorKey: String(decoding: data, as: UTF8.self)])
        }
        return Result(
            status: (report["status"] as? Int).map(Int32.init), signal: (report["signal"] as? Int).map(Int32.init),
            output: (report["output"] as? String ?? "").replacingOccurrences(of: "\r\n", with: "\n"),
            failure: report["failure"] as? String, echo: report["echo"] as? Bool)
    }
}
