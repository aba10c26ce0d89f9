import CLinux
import CairnCore
import Dispatch
import Foundation
import Hummingbird
import HummingbirdCore
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
        // Objects are replaced under their keys (locks, clients' puts): no descriptor is kept.
        case .folder(let path): return LocalFolderStorage(root: path, keepsFilesOpen: false)
        case .s3(let account):
            guard let s3 = account.s3 else { throw Failure("storage: no S3 settings") }
            return try s3.storage(account: "storage", repository: "", environment: environment)
        }
    }

    static func replicaTarget(_ account: Account, environment: [String: String]) throws -> any ReplicaTarget {
        if let options = account.server {
            guard let reference = options.password else { throw Failure("replicate-to: no password") }
            do {
                return ServerReplica(options: options, password: try reference.resolve(environment: environment))
            } catch {
                throw Failure("replicate-to: the password cannot be read: \(error.localizedDescription)")
            }
        }
        guard let s3 = account.s3 else { throw Failure("replicate-to: the replica is another cairn server or an S3 bucket") }
        do {
            return S3Replica(storage: try s3.storage(account: "replicate-to", repository: "", environment: environment), name: account.destination.description)
        } catch {
            throw Failure("replicate-to: \(error)")
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

    /// Lets freed memory stay with the process (up to 32 MiB of it) instead of going back to
    /// the kernel at once: each upload's network buffers would otherwise be new pages, mapped
    /// and zeroed one by one. Measured: a 17 MB upload took 41-49 ms of the server's CPU
    /// before, 25-28 ms with this and the copy it saves (docs/BENCHMARKS.md, sixteenth session);
    /// the peak under 20 clients stayed at 119 MiB (128 MiB kept: 155 MiB, no faster).
    static func keepFreedMemory() {
        _ = mallopt(M_TRIM_THRESHOLD, 32 << 20)
        // Large buffers from the heap too (by default they are mapped and unmapped each time).
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
    }

    /// Runs the server until SIGTERM or SIGINT; SIGHUP reads `configPath` again and takes its
    /// accounts (a config with errors is logged and the old one kept).
    public static func run(configPath: String, config: ServerConfig, run: RunEnvironment, log: ServerLog, reload: @escaping @Sendable () -> ServerConfigLoader.Result) async throws {
        keepFreedMemory()
        let storage = try storage(config, environment: run.variables)
        let book = AccountBook(config: config)
        let removed = try await storage.removeAbandonedUploads(prefix: "")
        if removed > 0 { log.note("removed \(removed) upload\(removed == 1 ? "" : "s") a crash or a dropped connection left unfinished") }
        var usage: [String: Int] = [:]
        for name in config.accounts.keys.sorted() {
            usage[name] = try await storage.listAll(prefix: name + "/").reduce(0) { $0 + $1.size }
        }
        book.setUsage(usage)
        var replicator: Replicator?
        var worker: Task<Void, Never>?
        if let replicateTo = config.replicateTo {
            let target = try replicaTarget(replicateTo, environment: run.variables)
            let made = try Replicator(state: config.stateFolder, target: target)
            try await made.queueEverythingOnce(storage: storage, accounts: config.accounts.keys.sorted(), log: log)
            replicator = made
            worker = Task { await made.run(storage: storage, log: log) }
            log.note("replicating to \(target.description) (queue in \(Replicator.queueFolder(state: config.stateFolder)))")
        }
        defer { worker?.cancel() }
        let jobs = JobBook(state: config.stateFolder)
        let web = try WebPages(book: book, jobs: jobs, storage: storage, log: log)
        let api = ObjectAPI(book: book, storage: storage, log: log, replication: replicator, jobs: jobs, web: web)
        let tls = try config.tls.map(tlsConfiguration)

        try FileManager.default.createDirectory(atPath: config.stateFolder, withIntermediateDirectories: true)
        let pidFile = config.stateFolder + "/server.pid"
        try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler {
            let result = reload()
            guard let fresh = result.config else {
                log.note("SIGHUP: \(configPath) has errors; the accounts stay as they were: \(result.diagnostics.errors.map { "\($0.location.map { "\($0): " } ?? "")\($0.message)" }.joined(separator: "; "))")
                return
            }
            book.reload(fresh)
            // Counted again: a cairn server prune beside the server changed the storage itself.
            Task {
                var counted: [String: Int] = [:]
                for name in fresh.accounts.keys {
                    if let items = try? await storage.listAll(prefix: name + "/") { counted[name] = items.reduce(0) { $0 + $1.size } }
                }
                book.recount(counted)
            }
            log.note("SIGHUP: read \(configPath) again: \(fresh.accounts.count) account\(fresh.accounts.count == 1 ? "" : "s")")
        }
        hangup.resume()
        defer { hangup.cancel() }

        var logger = Logger(label: "cairn-server")
        logger.logLevel = .error
        let scheme = tls == nil ? "http" : "https"
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(60))
        let responder = CallbackResponder<ServerRequestContext> { request, context in
            let started = ContinuousClock.now
            do {
                let response = try await api.respond(request, context)
                if log.verbose {
                    let elapsed = ContinuousClock.now - started
                    let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                    log.note("\(context.clientText) \(request.method) \(request.uri.path) \(response.status.code) \(String(format: "%.1f", milliseconds)) ms")
                }
                return response
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
            // A connection that sends nothing for a minute (never a request, or none since the
            // last) is closed: idle sockets cannot use up the server's descriptors.
            server: try tls.map { try .tls(.http1(configuration: http1), tlsConfiguration: $0) } ?? .http1(configuration: http1),
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

extension CairnServer {
    /// What `cairn server replication status` shows: the queue waiting in the state folder and
    /// what the worker last did.
    public struct ReplicationStatus: Encodable, Sendable {
        public var target: String
        public var queued: Int
        public var queuedBytes: Int
        /// The oldest waiting entry's time; nil when the queue is empty.
        public var oldestQueued: Date?
        public var forwarded: Int
        public var forwardedBytes: Int
        public var lastForwarded: Date?
        public var lastError: String?
        public var lastErrorAt: Date?

        /// Every key written, null when there is no value (schemas/server-replication-status.schema.json).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(target, forKey: .target)
            try container.encode(queued, forKey: .queued)
            try container.encode(queuedBytes, forKey: .queuedBytes)
            try container.encode(oldestQueued, forKey: .oldestQueued)
            try container.encode(forwarded, forKey: .forwarded)
            try container.encode(forwardedBytes, forKey: .forwardedBytes)
            try container.encode(lastForwarded, forKey: .lastForwarded)
            try container.encode(lastError, forKey: .lastError)
            try container.encode(lastErrorAt, forKey: .lastErrorAt)
        }

        enum CodingKeys: String, CodingKey {
            case target, queued, queuedBytes, oldestQueued, forwarded, forwardedBytes, lastForwarded, lastError, lastErrorAt
        }
    }

    public static func replicationStatus(_ config: ServerConfig) throws -> ReplicationStatus {
        guard let replicateTo = config.replicateTo else { throw Failure("\(config.file) has no replicate-to: this server does not replicate") }
        let folder = Replicator.queueFolder(state: config.stateFolder)
        var queued = 0
        var bytes = 0
        var oldest: Double?
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter(Replicator.isEntry).sorted()
        for name in names {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name), let entry = try? JSONDecoder().decode(Replicator.Entry.self, from: data) else { continue }
            queued += 1
            bytes += entry.size
            oldest = min(oldest ?? entry.queued, entry.queued)
        }
        let saved = FileManager.default.contents(atPath: Replicator.statusFile(state: config.stateFolder)).flatMap { try? JSONDecoder().decode(Replicator.Status.self, from: $0) }
            ?? Replicator.Status()
        func date(_ seconds: Double?) -> Date? { seconds.map(Date.init(timeIntervalSince1970:)) }
        return ReplicationStatus(
            target: replicateTo.destination.description, queued: queued, queuedBytes: bytes, oldestQueued: date(oldest), forwarded: saved.forwarded,
            forwardedBytes: saved.forwardedBytes, lastForwarded: date(saved.lastForwarded), lastError: saved.lastError, lastErrorAt: date(saved.lastErrorAt))
    }
}

extension CairnServer {
    /// The storage of one repository of an account, as `cairn server prune` opens it: queued
    /// for the replica when the server replicates.
    public static func repositoryStorage(_ config: ServerConfig, account: String, repository: String, run: RunEnvironment, log: ServerLog) throws -> any StorageBackend {
        let base: any StorageBackend
        switch config.storage {
        case .folder(let folder): base = LocalFolderStorage(root: "\(folder)/\(account)/\(repository)", keepsFilesOpen: false)
        case .s3(let storageAccount):
            guard let s3 = storageAccount.s3 else { throw Failure("storage: no S3 settings") }
            base = try s3.storage(account: "storage", repository: "\(account)/\(repository)", environment: run.variables)
        }
        guard let replicateTo = config.replicateTo else { return base }
        let replicator = try Replicator(state: config.stateFolder, target: try replicaTarget(replicateTo, environment: run.variables))
        return ReplicatingStorage(base: base, replicator: replicator, account: account, repository: repository, log: log)
    }

    /// The repositories of an account: the folders under it that hold a repository descriptor.
    public static func repositories(_ config: ServerConfig, account: String, run: RunEnvironment) async throws -> [String] {
        let storage = try storage(config, environment: run.variables)
        let descriptor = "/" + RepositoryDescriptor.fileName
        return try await storage.listAll(prefix: account + "/").filter { $0.key.hasSuffix(descriptor) }
            .map { String($0.key.dropFirst(account.count + 1).dropLast(descriptor.count)) }.sorted()
    }

    /// Tells a server running on this config's state folder to count its accounts' usage again
    /// (SIGHUP); false when none runs.
    public static func signalRunningServer(_ config: ServerConfig) -> Bool {
        guard let text = try? String(contentsOfFile: config.stateFolder + "/server.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return false }
        return kill(pid, SIGHUP) == 0
    }
}
