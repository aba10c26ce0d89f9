import Foundation

extension SecretReference {
    public enum ResolutionError: LocalizedError, Equatable {
        case unsetVariable(String, SourceLocation)
        case unreadableFile(String, SourceLocation)
        case commandFailed(status: Int32, SourceLocation)
        case commandTimedOut(ConfigDuration, SourceLocation)
        case empty(SourceLocation)

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
            }
        }
    }

    /// The secret's value, read only now that it is needed. One trailing newline of a file or a
    /// command's output is dropped; an empty secret is an error. Error messages name the
    /// reference and its place, never the value.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
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
        }
        guard !value.isEmpty else { throw ResolutionError.empty(location) }
        return value
    }

    private func run(_ command: String, environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        // Output goes to a file, not a pipe: a command that leaves a child holding the pipe open
        // would otherwise keep the read waiting past the timeout.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-secret-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        guard FileManager.default.createFile(atPath: scratch.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw ResolutionError.commandFailed(status: -1, location)
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = try FileHandle(forWritingTo: scratch)
        defer { try? output.close() }
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + .seconds(timeout.seconds)) == .timedOut {
            // The shell and what it started: the whole process group when it has one.
            kill(-process.processIdentifier, SIGKILL)
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            throw ResolutionError.commandTimedOut(timeout, location)
        }
        guard process.terminationStatus == 0 else { throw ResolutionError.commandFailed(status: process.terminationStatus, location) }
        return String(decoding: FileManager.default.contents(atPath: scratch.path) ?? Data(), as: UTF8.self)
    }

    static func droppingOneNewline(_ text: String) -> String {
        // "\r\n" is one Character in Swift, so dropping the last Character drops either ending.
        text.hasSuffix("\r\n") || text.hasSuffix("\n") ? String(text.dropLast()) : text
    }
}
