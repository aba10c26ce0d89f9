import CairnCore
import Dispatch
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// `cairn server`: the accounts' repositories served over HTTPS (docs/SERVER-API.md).
public enum CairnServer {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The storage where the repositories live: `<storage>/<account>/<repository>/<key>`.
    static func storage(_ config: ServerConfig, environment: [String: String]) throws -> any StorageBackend {
        switch config.storage {
        case .folder(let path): return LocalFolderStorage(root: path)
        case .s3(let account):
            guard let s3 = account.s3 else { throw Failure("storage: no S3 settings") }
            return try s3.storage(account: "storage", repository: "accounts", environment: environment)
        }
    }

    static func tlsConfiguration(_ files: ServerConfig.TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw Failure("tls: certificate \(files.certificate) holds no PEM certificate: \(error)")
        }
        guard !chain.isEmpty else { throw Failure("tls: certificate \(files.certificate) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        } catch {
            throw Failure("tls: key \(files.key) holds no PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// Runs the server until SIGTERM or SIGINT; SIGHUP reads `configPath` again and takes its
    /// accounts (a config with errors is logged and the old one kept).
    public static func run(configPath: String, config: ServerConfig, run: RunEnvironment, log: ServerLog, reload: @escaping @Sendable () -> ServerConfigLoader.Result) async throws {
        let storage = try storage(config, environment: run.variables)
        let book = AccountBook(config: config)
        let removed = try await storage.removeAbandonedUploads(prefix: "")
        if removed > 0 { log.note("removed \(removed) upload\(removed == 1 ? "" : "s") a crash or a dropped connection left unfinished") }
        var usage: [String: Int] = [:]
        for name in config.accounts.keys.sorted() {
            usage[name] = try await storage.listAll(prefix: name + "/").reduce(0) { $0 + $1.size }
        }
        book.setUsage(usage)
        let api = ObjectAPI(book: book, storage: storage, log: log)
        let tls = try config.tls.map(tlsConfiguration)

        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler {
            let result = reload()
            guard let fresh = result.config else {
                log.note("SIGHUP: \(configPath) has errors; the accounts stay as they were: \(result.diagnostics.errors.map { "\($0.location.map { "\($0): " } ?? "")\($0.message)" }.joined(separator: "; "))")
                return
            }
            book.reload(fresh)
            for name in fresh.accounts.keys where !usage.keys.contains(name) {
                Task {
                    let used = (try? await storage.listAll(prefix: name + "/").reduce(0) { $0 + $1.size }) ?? 0
                    book.settle(name, reserved: 0, stored: used, replaced: 0)
                }
            }
            log.note("SIGHUP: read \(configPath) again: \(fresh.accounts.count) account\(fresh.accounts.count == 1 ? "" : "s")")
        }
        hangup.resume()
        defer { hangup.cancel() }

        var logger = Logger(label: "cairn-server")
        logger.logLevel = .error
        let scheme = tls == nil ? "http" : "https"
        let responder = CallbackResponder<ServerRequestContext> { request, context in
            do {
                return try await api.respond(request, context)
            } catch let error as StorageError {
                log.note("\(context.clientText) \(request.method) \(request.uri.path) failed: \(error)")
                switch error.category {
                case .noSpace, .quotaExceeded:
                    return ObjectAPI.refusal(ObjectAPI.insufficientStorage, "server-full", "the server's storage is full: \(error)")
                case .transient: return ObjectAPI.refusal(.serviceUnavailable, "unavailable", "the server's storage failed for a moment; try again")
                case .notFound: return ObjectAPI.refusal(.notFound, "not-found", "the object does not exist")
                default: return ObjectAPI.refusal(.internalServerError, "storage", "the server's storage failed; its log says why")
                }
            }
        }
        let app = Application(
            responder: responder,
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(config.listen.host, port: config.listen.port), serverName: "cairn"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.listen.port
                let host = config.listen.host.contains(":") ? "[\(config.listen.host)]" : config.listen.host
                log.note("listening on \(scheme)://\(host):\(port) (storage \(config.storage.description), \(config.accounts.count) account\(config.accounts.count == 1 ? "" : "s"))")
            },
            logger: logger)
        try await app.runService()
    }
}
