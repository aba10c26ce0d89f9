import CairnCore
import Foundation

/// A `cairn server` on loopback for tests: a test CA and a certificate for 127.0.0.1 and
/// 127.0.0.2 made with openssl in a temporary folder, a server.yaml with the accounts given,
/// and the built binary serving it on a free port. A server that does not start fails the test.
public final class CairnTestServer: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public struct AccountSpec: Sendable {
        public var name: String
        public var password: String
        /// More keys of the account, as YAML flow entries (`quota: 2MB, append-only: true`).
        public var extra: String

        public init(_ name: String, password: String, extra: String = "") {
            self.name = name
            self.password = password
            self.extra = extra
        }
    }

    public let folder: TemporaryDirectory
    public private(set) var port = 0
    public var storage: String { folder.subpath("storage") }
    public var caFile: String { folder.subpath("ca.crt") }
    public var configFile: String { folder.subpath("server.yaml") }
    public var logFile: String { folder.subpath("server.log") }
    private var process: Process?
    private var hashes: [String: String] = [:]

    /// `tls: off`: plain HTTP, as behind a reverse proxy.
    public let plain: Bool

    /// The `storage:` value (and `state:`), when not the folder `storage`.
    let storageYAML: String?

    public init(accounts: [AccountSpec], extra: String = "", plain: Bool = false, storage storageYAML: String? = nil, environment: [String: String] = [:]) throws {
        self.plain = plain
        self.storageYAML = storageYAML
        folder = try TemporaryDirectory("cairn-server")
        try FileManager.default.createDirectory(atPath: storage, withIntermediateDirectories: true)
        try Self.makeCertificates(in: folder)
        try writeConfig(accounts: accounts, extra: extra)
        try start(environment: environment)
    }

    /// The URL a client account names for `account`.
    public func destination(_ account: String) -> String { "https://127.0.0.1:\(port)/\(account)" }

    /// Writes server.yaml (port 0 before the first start, the same port after).
    public func writeConfig(accounts: [AccountSpec], extra: String = "") throws {
        var lines = [
            "version: 1", "listen: 127.0.0.1:\(port)", plain ? "tls: off" : "tls: {certificate: server.crt, key: server.key}", storageYAML ?? "storage: storage", "accounts:",
        ]
        for account in accounts {
            let hash = try hashes[account.name + "\0" + account.password] ?? PasswordHash.make(Array(account.password.utf8), parameters: .init(logN: 12, r: 8, p: 1)).description
            hashes[account.name + "\0" + account.password] = hash
            lines.append("  \(account.name): {password-hash: \"\(hash)\"\(account.extra.isEmpty ? "" : ", " + account.extra)}")
        }
        if !extra.isEmpty { lines.append(extra) }
        _ = try folder.write("server.yaml", lines.joined(separator: "\n") + "\n")
    }

    /// Servers running, killed when the test process exits: a suite's shared server (a static
    /// property) is never deinitialized, and was left running after every test run.
    /// Only those still running are killed: the pid of one that ended may be another's by then.
    nonisolated(unsafe) private static var running: [ObjectIdentifier: Process] = [:]
    private static let runningLock = NSLock()
    private static let killedAtExit: Void = {
        atexit {
            CairnTestServer.runningLock.withLock {
                for process in CairnTestServer.running.values where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
    }()

    private static func forget(_ process: Process) {
        _ = runningLock.withLock { running.removeValue(forKey: ObjectIdentifier(process)) }
    }

    /// Starts the server and waits for its "listening on" line.
    public func start(environment: [String: String] = [:]) throws {
        let process = Process()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.executableURL = URL(fileURLWithPath: CairnProcess().executable)
        process.arguments = ["server", "-c", configFile, "--verbose"]
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        if !FileManager.default.fileExists(atPath: logFile) { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        try log.seekToEnd()
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        Self.killedAtExit
        Self.runningLock.withLock { Self.running[ObjectIdentifier(process)] = process }
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        let before = self.log.components(separatedBy: "listening on").count
        while Date() < deadline {
            let text = self.log
            if text.components(separatedBy: "listening on").count > before,
                let range = text.range(of: #"listening on https?://127\.0\.0\.1:(\d+)"#, options: [.regularExpression, .backwards]),
                let found = Int(text[range].split(separator: ":").last!)
            {
                if port == 0 {
                    // The same port from now on: a restart keeps the address clients know.
                    let config = try String(contentsOfFile: configFile, encoding: .utf8)
                    _ = try folder.write("server.yaml", config.replacingOccurrences(of: "listen: 127.0.0.1:0\n", with: "listen: 127.0.0.1:\(found)\n"))
                }
                port = found
                return
            }
            guard process.isRunning else { throw Failure(description: "cairn server did not start:\n\(text)") }
            usleep(50_000)
        }
        throw Failure(description: "cairn server did not say it listens within a minute:\n\(self.log)")
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    public var pid: Int32 { process?.processIdentifier ?? 0 }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Waits until the server stopped itself at a fault point (SIGSTOP) or `seconds` pass.
    public func waitUntilStopped(seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = text.range(of: ") ", options: .backwards) else { return false }
            if ["T", "t"].contains(text[end.upperBound...].first) { return true }
            usleep(2000)
        }
        return false
    }

    /// Waits until the process ends (after a fault point's SIGKILL).
    public func waitForExit() {
        guard let process else { return }
        process.waitUntilExit()
        Self.forget(process)
    }

    /// Files under the storage whose names start with `.tmp-`: uploads not committed.
    public var temporaryFiles: [String] {
        (FileManager.default.enumerator(atPath: storage)?.allObjects as? [String] ?? []).filter { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") }
    }

    /// SIGHUP: the server reads server.yaml again.
    public func reload() {
        let before = log.components(separatedBy: "SIGHUP").count
        kill(pid, SIGHUP)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, log.components(separatedBy: "SIGHUP").count == before { usleep(50_000) }
    }

    /// Stops the server: SIGTERM, or SIGKILL (a crash) when `crash`.
    public func stop(crash: Bool = false) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, crash ? SIGKILL : SIGTERM)
        process.waitUntilExit()
        Self.forget(process)
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if let process { Self.forget(process) }
    }

    /// `openssl` making a CA and a server certificate it signed, for 127.0.0.1, 127.0.0.2 and localhost.
    static func makeCertificates(in folder: TemporaryDirectory) throws {
        _ = try folder.write("ext.cnf", "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\n")
        let steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=cairn test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf"],
        ]
        for arguments in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed") }
        }
    }

    /// Tests/Servers/connect_proxy.py: an HTTP CONNECT proxy whose tunnels leave from `source`
    /// (127.0.0.2 is another client address on loopback).
    public static func connectProxy(source: String) throws -> S3TestServer.ScriptServer {
        try S3TestServer.ScriptServer("connect_proxy.py", [source], what: "the CONNECT proxy")
    }

    /// curl against the server with the test CA: the status code and the body.
    public func curl(_ arguments: [String]) throws -> (status: Int, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        let scratch = try TemporaryDirectory("curl")
        process.arguments = ["-s", "--path-as-is", "--cacert", caFile, "-o", scratch.subpath("body"), "-w", "%{http_code}"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let status = Int(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)) ?? 0
        process.waitUntilExit()
        return (status, (try? String(contentsOfFile: scratch.subpath("body"), encoding: .utf8)) ?? "")
    }

    public var url: String { "\(plain ? "http" : "https")://127.0.0.1:\(port)" }

    /// Headless Chromium (Debian's chromium) on a page of the server signed in as `user`:
    /// the page's DOM as text, and a screenshot written to `screenshot` when given.
    public func browse(_ path: String, user: String, password: String, screenshot: String? = nil) throws -> String {
        let address = url.replacingOccurrences(of: "://", with: "://\(user):\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password)@") + path
        func chromium(_ extra: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
            let profile = try TemporaryDirectory("chromium")
            process.arguments = [
                "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--user-data-dir=\(profile.path)", "--window-size=1100,900",
            ] + extra + [address]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw Failure(description: "chromium ended with \(process.terminationStatus) on \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        if let screenshot { _ = try chromium(["--screenshot=\(screenshot)"]) }
        return try chromium(["--dump-dom"])
    }
}
