import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A repository on a cairn server (`https://HOST[:PORT]/ACCOUNT`): each repository file an
/// object of the account's repository, sent over HTTPS with AsyncHTTPClient (the proxy's
/// CONNECT tunnel, a private CA, connection reuse and streaming come from it). The protocol is
/// docs/SERVER-API.md; every request carries the account's user and password, and every
/// upload its SHA-256, which the server checks before it stores a byte of it.
public final class ServerStorage: StorageBackend, Sendable {
    public struct Settings: Sendable, Equatable {
        public var options: ServerOptions
        public var repository: String
        public var password: String
        public var timeout: TimeInterval

        public init(options: ServerOptions, repository: String, password: String, timeout: TimeInterval = 120) {
            self.options = options
            self.repository = repository
            self.password = password
            self.timeout = timeout
        }
    }

    public let settings: Settings
    private let client: HTTPClient
    private let authorization: String
    private let objectsPath: String
    public let traffic: StorageTraffic?

    public init(_ settings: Settings, traffic: StorageTraffic? = nil) throws {
        self.settings = settings
        self.traffic = traffic
        client = try ServerClients.shared.client(for: settings.options)
        authorization = "Basic " + Data("\(settings.options.user):\(settings.password)".utf8).base64EncodedString()
        objectsPath = "/api/v1/accounts/\(Self.segment(settings.options.account))/repositories/\(Self.segment(settings.repository))/objects"
    }

    public var location: String { "\(settings.options.server)/\(settings.options.account)/\(settings.repository)/" }

    public var capabilities: StorageCapabilities {
        // A request on a kept-alive connection costs a round trip: on a LAN a few hundred
        // kilobytes' worth. 1 MiB gives 16 MiB packs (8 MiB ones measured no faster on
        // loopback, bench/server-load.sh, and make twice the requests).
        StorageCapabilities(concurrentRequests: settings.options.maxRequests, atomicPutIfAbsent: true, rangedReadOverhead: 1 << 20)
    }

    /// A path segment with everything but unreserved characters percent-encoded (a
    /// repository `laptop/home` is one segment, `laptop%2Fhome`).
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        allowed.remove(charactersIn: "/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    private func url(_ key: String?, query: [(String, String)] = []) -> String {
        var url = settings.options.server + objectsPath
        if let key { url += "/" + key.split(separator: "/", omittingEmptySubsequences: false).map { Self.segment(String($0)) }.joined(separator: "/") }
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\(Self.segment($0.1))" }.joined(separator: "&") }
        return url
    }

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// Sends one request and reads the whole answer (at most `limit` bytes of it).
    private func send(_ operation: String, _ method: HTTPMethod, _ key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: [UInt8]? = nil, limit: Int = 1 << 20) async throws -> Answer {
        try await send(
            operation, method, key, query: query, headers: headers, body: body.map { (ByteBuffer(bytes: $0), Hashing.sha256($0)) }, limit: limit)
    }

    /// The same with a body already in a buffer, and its SHA-256.
    func send(
        _ operation: String, _ method: HTTPMethod, _ key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: (ByteBuffer, [UInt8])?,
        limit: Int = 1 << 20
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url(key, query: query))
        request.method = method
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "User-Agent", value: "cairn")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let (bytes, hash) = body {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.headers.add(name: "X-Cairn-SHA256", value: Self.hex(hash))
            request.body = .bytes(bytes)
        }
        let place = location + (key ?? "")
        var received = 0
        defer { traffic?.record(operation, up: body?.0.readableBytes ?? 0, down: received) }
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(settings.timeout)))
            let answer = try await response.body.collect(upTo: limit)
            received = answer.readableBytes
            return Answer(status: Int(response.status.code), headers: response.headers, body: answer)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as NIOSSLError {
            throw StorageError.io(place, "\(settings.options.server) refused a secure connection: \(error) (is ca-file the CA that signed the server's certificate?)")
        } catch let error as BoringSSLError {
            throw StorageError.io(place, "\(settings.options.server) refused a secure connection: \(error) (is ca-file the CA that signed the server's certificate?)")
        } catch let error as NIOSSLExtraError {
            throw StorageError.io(place, "\(settings.options.server) refused a secure connection: \(error)")
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw StorageError.transient(place, "\(settings.options.server) could not be reached: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "the connection timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .readTimeout, .deadlineExceeded: return "the server did not answer in time"
            case .invalidProxyResponse: return "the proxy refused the tunnel (CONNECT)"
            case .proxyAuthenticationRequired: return "the proxy asks for a user and password (http://USER:PASSWORD@HOST:PORT)"
            default: return "\(error)"
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "the connection was refused (is cairn server running there?)"
            case ECONNRESET: return "the connection was reset"
            case ETIMEDOUT: return "the connection timed out"
            case EHOSTUNREACH, ENETUNREACH: return "the host cannot be reached"
            default: return String(cString: strerror(error.errnoCode))
            }
        }
        return "\(error)"
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// The error an answer means, in the server's own words.
    func failure(_ answer: Answer, _ key: String?) -> StorageError {
        let place = location + (key ?? "")
        let failure = ServerFailure(answer.body) ?? ServerFailure(answer.headers)
        let message = failure.map { ": \($0.message)" } ?? ""
        switch answer.status {
        case 404: return .notFound(place)
        case 412: return .preconditionFailed(place)
        case 416: return .outOfRange(place)
        case 401:
            return .permissionDenied(
                "\(settings.options.server): the server refused user '\(settings.options.user)' of account '\(settings.options.account)' (wrong user or password\(message))")
        case 403: return .permissionDenied("\(place)\(message.isEmpty ? " (refused by the server)" : message)")
        case 507:
            let place = "\(settings.options.server)/\(settings.options.account)"
            if let refusal = QuotaRefusal(answer.body) {
                return .quotaExceeded(
                    "\(place) (account '\(settings.options.account)' uses \(ByteCountText.format(UInt64(max(0, refusal.usage)))) of its \(ByteCountText.format(UInt64(max(0, refusal.quota)))) quota; the upload needs \(ByteCountText.format(UInt64(max(0, refusal.needed)))) more)")
            }
            return .quotaExceeded("\(place) (account '\(settings.options.account)'\(message))")
        case 400 where failure?.code == "hash-mismatch": return .transient(place, "the upload arrived damaged\(message)")
        case 408, 429, 500...599: return .transient(place, "HTTP \(answer.status)\(message)")
        default: return .io(place, "HTTP \(answer.status)\(message)")
        }
    }

    // MARK: StorageBackend

    public func get(_ key: String) async throws -> [UInt8] {
        try StorageKey.check(key)
        let answer = try await send("GET", .GET, key, limit: Int(Int32.max))
        guard answer.status == 200 else { throw failure(answer, key) }
        return Array(buffer: answer.body)
    }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        try StorageKey.check(key)
        guard !range.isEmpty else {
            guard try await stat(key) != nil else { throw StorageError.notFound(location + key) }
            return StorageBuffer([])
        }
        let answer = try await send("GET", .GET, key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")], limit: max(range.count, 1 << 16))
        guard answer.status == 206 || (answer.status == 200 && range.lowerBound == 0) else { throw failure(answer, key) }
        var body = answer.body
        guard body.readableBytes >= range.count, let bytes = body.readBytes(length: range.count) else {
            throw StorageError.outOfRange(location + key)
        }
        return StorageBuffer(bytes)
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try StorageKey.check(key)
        let answer = try await send("PUT", .PUT, key, body: data)
        guard answer.status == 201 || answer.status == 200 || answer.status == 204 else { throw failure(answer, key) }
    }

    /// A pack written piece by piece into one buffer (kept for the next pack), hashed when it
    /// is committed, in the background, and sent in one PUT: no copy of the whole.
    public func openUpload(_ key: String) async throws -> any StorageUpload {
        try StorageKey.check(key)
        return ServerUpload(storage: self, key: key)
    }

    func put(_ key: String, buffer: ByteBuffer, sha256: [UInt8]) async throws {
        let answer = try await send("PUT", .PUT, key, body: (buffer, sha256))
        guard answer.status == 201 || answer.status == 200 || answer.status == 204 else { throw failure(answer, key) }
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try StorageKey.check(key)
        let answer = try await send("PUT", .PUT, key, headers: [("If-None-Match", "*")], body: data)
        if answer.status == 412 { return false }
        guard answer.status == 201 || answer.status == 200 || answer.status == 204 else { throw failure(answer, key) }
        return true
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        try StorageKey.check(key)
        let answer = try await send("HEAD", .HEAD, key)
        if answer.status == 404 { return nil }
        guard answer.status == 200, let size = answer.headers.first(name: "Content-Length").flatMap(Int.init) else { throw failure(answer, key) }
        return StorageItem(key: key, size: size)
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        var query = [("prefix", prefix), ("limit", String(limit))]
        if let after { query.append(("after", after)) }
        let answer = try await send("LIST", .GET, nil, query: query, limit: 64 << 20)
        guard answer.status == 200 else { throw failure(answer, nil) }
        struct Page: Decodable {
            struct Object: Decodable {
                var key: String
                var size: Int
            }
            var objects: [Object]
        }
        guard let page = try? JSONDecoder().decode(Page.self, from: Data(answer.body.readableBytesView)) else {
            throw StorageError.transient(location, "the server's listing is not the JSON it should be")
        }
        return page.objects.map { StorageItem(key: $0.key, size: $0.size) }
    }

    public func delete(_ key: String) async throws {
        try StorageKey.check(key)
        let answer = try await send("DELETE", .DELETE, key)
        guard answer.status == 204 || answer.status == 200 || answer.status == 404 else { throw failure(answer, key) }
    }

    public func delete(_ keys: [String]) async throws {
        // Deletes at once, as many as requests may run.
        let width = max(1, settings.options.maxRequests)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = keys[...]
            for _ in 0..<width {
                guard let key = pending.popFirst() else { break }
                group.addTask { try await self.delete(key) }
            }
            while try await group.next() != nil {
                if let key = pending.popFirst() { group.addTask { try await self.delete(key) } }
            }
        }
    }

    /// Tells the server how a job on this repository ended (what its web page shows: the
    /// set, host, status, times and sizes; never a file name or a key).
    public func reportJob(_ job: ServerJobSummary) async throws {
        var request = HTTPClientRequest(url: settings.options.server + "/api/v1/accounts/\(Self.segment(settings.options.account))/repositories/\(Self.segment(settings.repository))/jobs")
        request.method = .POST
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(Array(try JSONEncoder().encode(job)))
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw failure(Answer(status: Int(response.status.code), headers: response.headers, body: body), nil)
        }
    }

    /// The account's state as the server sees it: usage, quota, whether it is append-only.
    public func accountStatus() async throws -> ServerAccountStatus {
        var request = HTTPClientRequest(url: settings.options.server + "/api/v1/accounts/\(Self.segment(settings.options.account))")
        request.headers.add(name: "Authorization", value: authorization)
        let response = try await client.execute(request, timeout: .seconds(Int64(settings.timeout)))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let status = try? JSONDecoder().decode(ServerAccountStatus.self, from: Data(body.readableBytesView)) else {
            throw failure(Answer(status: Int(response.status.code), headers: response.headers, body: body), nil)
        }
        return status
    }
}

/// A job as the client reports it to the server (`POST .../repositories/REPOSITORY/jobs`).
public struct ServerJobSummary: Codable, Sendable, Equatable {
    public var set: String
    public var host: String
    public var command: String
    /// complete, incomplete, partial, failed, no changes.
    public var status: String
    /// RFC 3339 times.
    public var start: String
    public var end: String
    public var snapshot: String?
    public var files: Int?
    public var bytes: Int?
    public var bytesAdded: Int?

    enum CodingKeys: String, CodingKey {
        case set, host, command, status, start, end, snapshot, files, bytes
        case bytesAdded = "bytes-added"
    }

    public init(set: String, host: String, command: String, status: String, start: String, end: String, snapshot: String?, files: Int?, bytes: Int?, bytesAdded: Int?) {
        self.set = set
        self.host = host
        self.command = command
        self.status = status
        self.start = start
        self.end = end
        self.snapshot = snapshot
        self.files = files
        self.bytes = bytes
        self.bytesAdded = bytesAdded
    }
}

/// An account's state, as `GET /api/v1/accounts/ACCOUNT` answers.
public struct ServerAccountStatus: Codable, Sendable, Equatable {
    public var account: String
    public var usage: Int
    public var quota: Int?
    public var appendOnly: Bool
    public var restoreAllowed: Bool
    public var contact: String?
    /// The client's address as the server sees it.
    public var address: String?

    public init(account: String, usage: Int, quota: Int?, appendOnly: Bool, restoreAllowed: Bool, contact: String?, address: String?) {
        self.address = address
        self.account = account
        self.usage = usage
        self.quota = quota
        self.appendOnly = appendOnly
        self.restoreAllowed = restoreAllowed
        self.contact = contact
    }

    /// Every key written, null when there is no value (quota, contact, address).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(account, forKey: .account)
        try container.encode(usage, forKey: .usage)
        try container.encode(quota, forKey: .quota)
        try container.encode(appendOnly, forKey: .appendOnly)
        try container.encode(restoreAllowed, forKey: .restoreAllowed)
        try container.encode(contact, forKey: .contact)
        try container.encode(address, forKey: .address)
    }

    enum CodingKeys: String, CodingKey {
        case account, usage, quota, contact, address
        case appendOnly = "append-only"
        case restoreAllowed = "restore-allowed"
    }
}

/// The JSON body of a refusal: `{"error": CODE, "message": TEXT}`.
struct ServerFailure: Decodable {
    var code: String
    var message: String

    enum CodingKeys: String, CodingKey {
        case code = "error"
        case message
    }

    init?(_ body: ByteBuffer) {
        guard let decoded = try? JSONDecoder().decode(ServerFailure.self, from: Data(body.readableBytesView)) else { return nil }
        self = decoded
    }

    /// From the X-Cairn-Error and X-Cairn-Message headers (a refused HEAD has no body).
    init?(_ headers: HTTPHeaders) {
        guard let code = headers.first(name: "X-Cairn-Error"), let message = headers.first(name: "X-Cairn-Message") else { return nil }
        self.code = code
        self.message = message
    }
}

/// An upload to the server: see `ServerStorage.openUpload`. A commit that fails transiently
/// may be called again (the buffer and hash are kept).
final class ServerUpload: StorageUpload, @unchecked Sendable {
    private let storage: ServerStorage
    private let key: String
    private var buffer: ByteBuffer
    private var digest: [UInt8]?

    init(storage: ServerStorage, key: String) {
        self.storage = storage
        self.key = key
        buffer = PackBuffers.take()
    }

    func write(_ bytes: [UInt8]) async throws {
        precondition(digest == nil, "an upload is written before it is committed")
        buffer.writeBytes(bytes)
    }

    /// Hashes the pack here, not as it fills: a backup commits a pack in the background while
    /// the next one fills, so its hashing is off the path every object takes.
    func commit() async throws {
        let digest = self.digest ?? buffer.withUnsafeReadableBytes { Hashing.sha256($0) }
        self.digest = digest
        try await storage.put(key, buffer: buffer, sha256: digest)
        // Sent: its buffer serves a later pack (taken out first, so that it is not shared).
        var sent = ByteBuffer()
        swap(&sent, &buffer)
        PackBuffers.give(sent)
    }
}

/// The buffers packs are sent from, kept between packs: a new 17 MiB buffer for each pack is
/// memory the kernel maps and zeroes page by page (measured: 6% of the CPU of a backup through
/// a server). A backup fills one pack while the one before it is sent: two are kept.
enum PackBuffers {
    /// A pack's 16 MiB and a little: a larger one grows its buffer once.
    static let size = 17 << 20
    static let keptLimit = 2
    private static let kept = Mutex<[ByteBuffer]>([])

    static func take() -> ByteBuffer {
        kept.withLock { $0.popLast() } ?? ByteBufferAllocator().buffer(capacity: size)
    }

    static func give(_ buffer: consuming ByteBuffer) {
        var buffer = buffer
        guard buffer.capacity >= size, buffer.capacity <= 2 * size else { return }
        // Empty again (one the HTTP client still holds is copied on write, never changed under it).
        buffer.clear()
        kept.withLock { if $0.count < keptLimit { $0.append(buffer) } }
    }
}

extension ByteBuffer: UploadBytes {
    public var byteCount: Int { readableBytes }
    public func withUploadBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeReadableBytes(body)
    }
}

/// The numbers of a quota refusal (507): what the account uses, its quota, what the upload needed.
struct QuotaRefusal: Decodable {
    var usage: Int
    var quota: Int
    var needed: Int

    init?(_ body: ByteBuffer) {
        guard let decoded = try? JSONDecoder().decode(QuotaRefusal.self, from: Data(body.readableBytesView)) else { return nil }
        self = decoded
    }
}

/// One HTTP client per way of reaching servers (CA file, proxy, width), kept for the
/// process's life: AsyncHTTPClient's clients must be shut down before they go, and a process
/// opens few of them.
final class ServerClients: Sendable {
    static let shared = ServerClients()

    private struct Shape: Hashable {
        var caFile: String?
        var proxy: ServerOptions.Proxy?
        var width: Int
    }

    private let clients = Mutex<[Shape: HTTPClient]>([:])

    func client(for options: ServerOptions) throws -> HTTPClient {
        let shape = Shape(caFile: options.caFile, proxy: options.proxy, width: options.maxRequests)
        return try clients.withLock { clients in
            if let client = clients[shape] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = options.caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else {
                    throw StorageError.io(options.server, "the ca-file \(caFile) does not exist or cannot be read")
                }
                do {
                    tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
                } catch {
                    throw StorageError.io(options.server, "the ca-file \(caFile) holds no PEM certificate: \(error)")
                }
            }
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(15), read: .seconds(120)),
                proxy: options.proxy.map { proxy in
                    .server(
                        host: proxy.host, port: proxy.port,
                        authorization: proxy.user.map { .basic(username: $0, password: proxy.password ?? "") })
                })
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(2, options.maxRequests)
            // A server that refuses connections fails the request at once (RetryingStorage tries
            // again, a few times over seconds): AsyncHTTPClient's own retries would wait out the
            // request's whole deadline (measured: 3 minutes for a backup to a stopped server).
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.decompression = .disabled
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[shape] = client
            return client
        }
    }
}
