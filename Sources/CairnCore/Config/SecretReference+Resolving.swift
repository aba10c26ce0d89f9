import Foundation

extension SecretReference {
    public enum ResolutionError: LocalizedError, CustomStringConvertible, Equatable {
        case unsetVariable(String, SourceLocation)
        case unreadableFile(String, SourceLocation)
        case commandFailed(status: Int32, SourceLocation)
        case commandTimedOut(ConfigDuration, SourceLocation)
        case empty(SourceLocation)
        /// `{prompt: true}` without a terminal to ask on.
        case noTerminal(SourceLocation)
        /// The prompt was ended by a signal (Ctrl-C).
        case promptInterrupted(SourceLocation)
        /// The terminal's input ended before a line was typed (Ctrl-D).
        case noAnswer(SourceLocation)

        public var errorDescription: String? {
            switch self {
            case let .unsetVariable(name, location):
                return "\(location): the secret's environment variable \(name) is not set"
            case let .unreadableFile(path, location):
                return "\(location): cannot read the secret file \(path)"
            case let .commandFailed(status, location):
                return "\(location): the secret's command exited with status \(status)"
            case let .commandTimedOut(limit, location):
                return "\(location): the secret's command did not finish within \(limit) and was stopped (a longer 'timeout:' in the reference allows more)"
            case let .empty(location):
                return "\(location): the secret is empty"
            case let .noTerminal(location):
                return "\(location): the secret is asked at a prompt ({prompt: true}), and there is no terminal to ask on"
            case let .promptInterrupted(location):
                return "\(location): the prompt for the secret was interrupted"
            case let .noAnswer(location):
                return "\(location): no secret was typed at the prompt (the input ended)"
            }
        }

        /// The message, also where the error is interpolated ("\(error)").
        public var description: String { errorDescription ?? "" }
    }

    /// The secret's value, read only now that it is needed. One trailing newline of a file or a
    /// command's output is dropped; an empty secret is an error. Error messages name the
    /// reference and its place, never the value. `question` is the prompt of `{prompt: true}`
    /// (by default the reference's place), asked once per process.
    public func resolve(environment: [String: String], question: String? = nil) throws -> String {
        var value: String
        switch source {
        case .environment(let name):
            guard let found = environment[name] else { throw ResolutionError.unsetVariable(name, location) }
            value = found
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ResolutionError.unreadableFile(path, location)
            }
            value = Self.droppingOneNewline(text)
        case .command(let command):
            value = Self.droppingOneNewline(try run(command, environment: environment))
        case .prompt:
            value = try PromptedSecrets.answer(to: question ?? "secret of \(location)", at: location)
        }
        guard !value.isEmpty else { throw ResolutionError.empty(location) }
        return value
    }

    private func run(_ command: String, environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        // Read on a thread of its own, so the wait below has a deadline; the secret never
        // leaves memory (no temporary file).
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let collected = Collected()
        let reader = output.fileHandleForReading
        let deadline = DispatchTime.now() + .seconds(timeout.seconds)
        try process.run()
        Thread.detachNewThread {
            collected.set(reader.readDataToEndOfFile())
        }
        guard finished.wait(timeout: deadline) != .timedOut else {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            throw ResolutionError.commandTimedOut(timeout, location)
        }
        // Something the command started may still hold the pipe open: the deadline holds.
        guard let data = collected.wait(until: deadline) else { throw ResolutionError.commandTimedOut(timeout, location) }
        guard process.terminationStatus == 0 else { throw ResolutionError.commandFailed(status: process.terminationStatus, location) }
        return String(decoding: data, as: UTF8.self)
    }

    /// What the reading thread got, handed over once.
    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private let done = DispatchSemaphore(value: 0)
        private var data: Data?

        func set(_ value: Data) {
            lock.lock()
            data = value
            lock.unlock()
            done.signal()
        }

        func wait(until deadline: DispatchTime) -> Data? {
            guard done.wait(timeout: deadline) != .timedOut else { return nil }
            lock.lock()
            defer { lock.unlock() }
            return data
        }
    }

    static func droppingOneNewline(_ text: String) -> String {
        // "\r\n" is one Character in Swift, so dropping the last Character drops either ending.
        text.hasSuffix("\r\n") || text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
