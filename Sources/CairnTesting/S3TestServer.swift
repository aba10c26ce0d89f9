import CairnCore
import Foundation

/// An S3 server on loopback for tests (Tests/Servers/s3_server.py: PyPI's moto with signature
/// checking on), with a bucket and the access key of an IAM user allowed S3. One per test
/// suite is enough: each backend gets a prefix of its own. A server that does not start fails
/// the test.
public final class S3TestServer: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let process = Process()
    public let port: Int
    public let bucket: String
    public let credentials: SigV4Signer.Credentials

    public init(bucket: String = "cairn-test") throws {
        self.bucket = bucket
        let line = try Self.start(process, "s3_server.py", [bucket])
        struct Started: Decodable {
            var port: Int
            var access, secret: String
        }
        guard let started = try? JSONDecoder().decode(Started.self, from: line) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw Failure(description: "the S3 test server did not start (PyPI's moto[server] 5.2.5 or later: scripts/install-deps.sh installs it)")
        }
        port = started.port
        credentials = SigV4Signer.Credentials(accessKey: started.access, secretKey: started.secret)
    }

    /// Starts Tests/Servers/SCRIPT with python3 and returns the first line it prints (what it
    /// says once it serves; empty when it ended first).
    static func start(_ process: Process, _ script: String, _ arguments: [String]) throws -> Data {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SourceTree.path("Tests/Servers/\(script)")] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try pipe.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        return line
    }

    deinit {
        // SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// A helper server of Tests/Servers that prints its port once it serves; gone with this object.
    public final class ScriptServer: @unchecked Sendable {
        let process = Process()
        public let port: Int

        init(_ script: String, _ arguments: [String], what: String) throws {
            let line = try S3TestServer.start(process, script, arguments)
            guard let port = Int(String(decoding: line, as: UTF8.self)) else {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw Failure(description: "\(what) did not start")
            }
            self.port = port
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }
    }

    /// Tests/Servers/hostile_s3.py: an S3 server that lies (a batch delete answered 200 without
    /// removing anything, listings that never move on).
    public static func hostile() throws -> ScriptServer { try ScriptServer("hostile_s3.py", [], what: "the hostile S3 server") }

    /// Tests/Servers/flaky_proxy.py in front of this server: 503 SlowDown, connections closed
    /// before a request is passed on, and answers dropped after it took effect, in a fixed
    /// pattern.
    public func flakyProxy() throws -> ScriptServer { try ScriptServer("flaky_proxy.py", [String(port)], what: "the flaky proxy") }

    /// A backend on the bucket under `prefix` (a fresh one by default).
    public func storage(prefix: String = "repo-\(UUID().uuidString)/", credentials: SigV4Signer.Credentials? = nil) -> S3Storage {
        S3Storage(
            S3Storage.Settings(
                endpoint: endpoint, bucket: bucket, prefix: prefix, region: "us-east-1", pathStyle: true, credentials: credentials ?? self.credentials))
    }
}
