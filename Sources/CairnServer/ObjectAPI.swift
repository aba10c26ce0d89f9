import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The storage protocol over HTTP (docs/SERVER-API.md): objects of an account's repositories
/// read (whole or a range), written (checked against their size and SHA-256 before they are
/// stored; put-if-absent with `If-None-Match: *`), stated, listed a page at a time and deleted,
/// every request authenticated, an account only ever reaching its own repositories.
struct ObjectAPI: Sendable {
    let book: AccountBook
    let storage: any StorageBackend
    let log: ServerLog
    /// Forwards what is stored and deleted to the replica (`replicate-to:`).
    let replication: Replicator?
    let jobs: JobBook
    let web: WebPages
    let keyLocks = KeyLocks()
    /// Bytes of put-if-absent bodies held in memory now, by every request.
    let heldInMemory = HeldBytes()

    final class HeldBytes: Sendable {
        private let count = Mutex(0)

        /// Takes `bytes` if the total stays within `limit`.
        func take(_ bytes: Int, limit: Int) -> Bool {
            count.withLock { held in
                guard held + bytes <= limit else { return false }
                held += bytes
                return true
            }
        }

        func give(_ bytes: Int) { count.withLock { $0 -= bytes } }
    }

    /// Bodies of put-if-absent requests are held in memory until stored (cairn writes only a
    /// repository's descriptor so: a few hundred bytes), at most this much each...
    static let conditionalLimit = 1 << 20
    /// ...and this much for all requests at once (more waits: 503).
    static let conditionalTotal = 64 << 20
    /// No object is larger: a pack is 16 MiB and its last object (a chunk, at most 8 MiB).
    static let objectLimit = 64 << 20
    /// Whole objects up to this size are read in one piece (see `get`).
    static let wholeReadLimit = 32 << 20
    static let hashHeader = HTTPField.Name("X-Cairn-SHA256")!
    static let errorHeader = HTTPField.Name("X-Cairn-Error")!
    static let messageHeader = HTTPField.Name("X-Cairn-Message")!
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    // MARK: answers

    static func refusal(_ status: HTTPResponse.Status, _ code: String, _ message: String, extra: [String: Int] = [:], headers: HTTPFields = [:]) -> Response {
        var fields: [String: Any] = ["error": code, "message": message]
        for (key, value) in extra { fields[key] = value }
        let body = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        var headers = headers
        headers[.contentType] = "application/json"
        // In headers too: a refused HEAD has no body.
        headers[errorHeader] = code
        headers[messageHeader] = String(message.unicodeScalars.map { $0.isASCII && $0.value >= 32 ? Character($0) : "?" })
        headers[.contentLength] = String(body.count)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .contentLength: String(body.count)], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static let unauthorized = refusal(
        .unauthorized, "unauthorized", "a user and password are needed (HTTP Basic), and these are not right",
        headers: [.wwwAuthenticate: "Basic realm=\"cairn\", charset=\"UTF-8\""])

    /// Reads and drops what is left of a refused upload, so the connection can carry the next
    /// request; nothing of it is kept.
    static func drain(_ request: Request) async {
        do {
            for try await _ in request.body {}
        } catch {}
    }

    // MARK: routing

    /// The path's segments, percent-decoded one by one (`laptop%2Fhome` is one segment).
    static func segments(_ path: String) -> [String]? {
        var parts: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = String(raw).removingPercentEncoding else { return nil }
            parts.append(decoded)
        }
        return parts
    }

    /// Whether a repository's name or an object's key can be stored: parts that are not empty,
    /// `.`, `..` or hidden (`.tmp-` files are the storage's own), without NUL.
    static func isStorable(_ text: String, allowSlash: Bool) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !text.isEmpty, text.utf8.count <= 1024, allowSlash || parts.count == 1 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && !part.hasPrefix(".") && part.utf8.count <= 255 && !part.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
        }
    }

    /// The folders of a repository: a key of more than one part starts with one of them.
    static let repositoryFolders: Set<Substring> = ["data", "index", "snapshots", "keys", "locks"]

    /// Whether `repository` can name one: no part but the first is one of a repository's
    /// folders. With `isRepositoryKey`, no two (repository, key) pairs name one file: a
    /// repository `laptop/data` would otherwise hold `laptop`'s packs under keys outside
    /// `data/` (and past restore-from).
    static func isRepositoryName(_ repository: String) -> Bool {
        isStorable(repository, allowSlash: true) && !repository.split(separator: "/").dropFirst().contains { repositoryFolders.contains($0) }
    }

    /// Whether `key` can be stored: one file at the repository's top (its descriptor) that is
    /// not one of its folders, or a file under one of those folders.
    static func isRepositoryKey(_ key: String) -> Bool {
        guard isStorable(key, allowSlash: true) else { return false }
        let parts = key.split(separator: "/")
        return parts.count == 1 ? !repositoryFolders.contains(parts[0]) : repositoryFolders.contains(parts[0])
    }

    func respond(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        guard let parts = Self.segments(request.uri.path) else {
            return Self.refusal(.badRequest, "bad-path", "the path is not valid percent-encoded UTF-8")
        }
        if parts == ["health"] { return Response(status: .ok, headers: [.contentLength: "3"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        if parts.first != "api", let page = try await web.respond(request, context, parts: parts) { return page }
        guard parts.count >= 4, parts[0] == "api", parts[1] == "v1", parts[2] == "accounts" else {
            return Self.refusal(.notFound, "not-found", "no such page: the API is under /api/v1/accounts/ACCOUNT")
        }
        let account = parts[3]
        guard ServerAccount.isValidName(account) else { return Self.refusal(.notFound, "not-found", "'\(account)' is not an account name") }
        let caller = await authenticate(request, account: account, context)
        guard caller != .refused else {
            if request.method == .put { await Self.drain(request) }
            return await refusalForCredentials(request, account: account, context)
        }
        if parts.count == 4 {
            guard caller == .owner else { return Self.refusal(.forbidden, "replication", "a replication source reads no account's state") }
            guard request.method == .get || request.method == .head else { return Self.refusal(.methodNotAllowed, "method", "an account is read with GET") }
            return accountStatus(account, context)
        }
        guard parts.count >= 6, parts[4] == "repositories", Self.isRepositoryName(parts[5]) else {
            return Self.refusal(.notFound, "not-found", "no such path: objects are under /api/v1/accounts/ACCOUNT/repositories/REPOSITORY/objects/KEY")
        }
        let repository = parts[5]
        if parts.count == 7, parts[6] == "jobs" {
            guard caller == .owner, request.method == .post else { return Self.refusal(.methodNotAllowed, "method", "a job is reported with POST, by the account") }
            return try await reportJob(request, account: account, repository: repository)
        }
        guard parts.count >= 7, parts[6] == "objects" else {
            return Self.refusal(.notFound, "not-found", "no such path: objects are under /api/v1/accounts/ACCOUNT/repositories/REPOSITORY/objects/KEY")
        }
        let base = "\(account)/\(repository)/"
        if parts.count == 7 {
            guard request.method == .get else { return Self.refusal(.methodNotAllowed, "method", "a repository's objects are listed with GET") }
            return try await list(request, base: base)
        }
        let key = parts[7...].joined(separator: "/")
        guard parts[7...].allSatisfy({ !$0.contains("/") }), Self.isRepositoryKey(key) else {
            // Nothing can be stored there, so nothing is: a read finds nothing, a delete has
            // nothing to do; an upload is refused.
            if Self.isStorable(key, allowSlash: true), !parts[7...].contains(where: { $0.contains("/") }) {
                switch request.method {
                case .get, .head: return Self.refusal(.notFound, "not-found", "\(key) does not exist (no key of a repository has that shape)")
                case .delete: return Response(status: .noContent)
                default: break
                }
            }
            if request.method == .put { await Self.drain(request) }
            return Self.refusal(.badRequest, "bad-key", "'\(key)' is not a key an object can be stored under")
        }
        let place = Place(account: account, repository: repository, key: key)
        switch request.method {
        case .get:
            guard caller == .owner else { return Self.refusal(.forbidden, "replication", "a replication source reads no object") }
            return try await get(request, context, account: account, base: base, key: key)
        case .head: return try await head(base + key)
        case .put: return try await put(request, context, place, replicating: caller == .replication)
        case .delete: return try await delete(context, place, replicating: caller == .replication)
        default: return Self.refusal(.methodNotAllowed, "method", "objects take GET, HEAD, PUT and DELETE")
        }
    }

    // MARK: authentication

    /// Who a request comes from: the account's owner, another server replicating into this one
    /// (`replication-sources:`: it writes into every account, past quotas and append-only), or
    /// no one known.
    enum Caller {
        case owner
        case replication
        case refused
    }

    /// An object's account, repository and key.
    struct Place: Sendable {
        var account: String
        var repository: String
        var key: String
        var storageKey: String { "\(account)/\(repository)/\(key)" }
    }

    /// The user and password of the Basic Authorization header.
    static func credentials(_ request: Request) -> (user: String, password: [UInt8])? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let bytes = [UInt8](decoded)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return (String(decoding: bytes[..<colon], as: UTF8.self), Array(bytes[(colon + 1)...]))
    }

    func authenticate(_ request: Request, account: String, _ context: ServerRequestContext) async -> Caller {
        guard let (user, password) = Self.credentials(request) else { return .refused }
        if user == account, book.account(account) != nil {
            return await book.check(account, password: password) ? .owner : .refused
        }
        if await book.checkReplication(user, password: password) { return .replication }
        return .refused
    }

    /// 401 for wrong credentials; 403 for an account's right credentials used on another
    /// account (whether that one exists is not told).
    func refusalForCredentials(_ request: Request, account: String, _ context: ServerRequestContext) async -> Response {
        if let (user, password) = Self.credentials(request), user != account, book.account(user) != nil, await book.check(user, password: password) {
            log.note("\(context.clientText) \(user) \(request.method) \(request.uri.path) refused: account '\(user)' tried to reach account '\(account)'")
            return Self.refusal(.forbidden, "other-account", "account '\(user)' cannot reach the repositories of another account")
        }
        log.note("\(context.clientText) \(request.method) \(request.uri.path) refused: wrong user or password for account '\(account)'")
        return Self.unauthorized
    }

    // MARK: account

    static let statuses: Set<String> = ["complete", "incomplete", "partial", "failed", "no changes", "cancelled"]

    /// A client's report of a job on a repository, for the web page.
    func reportJob(_ request: Request, account: String, repository: String) async throws -> Response {
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 64 << 10)
        } catch {
            return Self.refusal(.contentTooLarge, "bad-job", "a job report is at most 64 KiB")
        }
        guard let data = body.readData(length: body.readableBytes), let job = try? JSONDecoder().decode(ServerJobSummary.self, from: data),
            Self.statuses.contains(job.status), Timestamp(rfc3339: job.start) != nil, Timestamp(rfc3339: job.end) != nil,
            [job.set, job.host, job.command].allSatisfy({ !$0.isEmpty && $0.count <= 255 && !$0.unicodeScalars.contains { $0.value < 0x20 } }),
            job.snapshot.map({ $0.count <= 64 && $0.allSatisfy(\.isHexDigit) }) ?? true
        else {
            return Self.refusal(.badRequest, "bad-job", "a job report is the JSON of docs/SERVER-API.md, at most 64 KiB, with a known status and RFC 3339 times")
        }
        // Only for a repository that exists: reports cannot make files of their own.
        guard try await storage.stat("\(account)/\(repository)/\(RepositoryDescriptor.fileName)") != nil else {
            return Self.refusal(.notFound, "not-found", "account '\(account)' has no repository '\(repository)'")
        }
        do {
            try jobs.record(job, account: account, repository: repository)
        } catch {
            log.note("job report for \(account)/\(repository) not kept: \(error)")
            return Self.refusal(.internalServerError, "storage", "the report could not be kept; the server's log says why")
        }
        return Response(status: .noContent)
    }

    func accountStatus(_ account: String, _ context: ServerRequestContext) -> Response {
        guard let settings = book.account(account) else { return Self.unauthorized }
        let address = context.remoteAddress?.ipAddress.flatMap(NetworkRange.address)
        if !settings.mayRestore(from: address) {
            log.note("\(context.clientText) \(account) restore refused: \(context.clientText) is not in the account's restore-from")
        }
        return Self.json(
            ServerAccountStatus(
                account: account, usage: book.usage(account), quota: settings.quota.map { Int(clamping: $0.bytes) }, appendOnly: settings.appendOnly,
                restoreAllowed: settings.mayRestore(from: address), contact: settings.contact, address: context.remoteAddress?.ipAddress))
    }

    // MARK: objects

    func head(_ key: String) async throws -> Response {
        guard let item = try await storage.stat(key) else { return Response(status: .notFound, headers: [.contentLength: "0"]) }
        return Response(status: .ok, headers: [.contentLength: String(item.size), .acceptRanges: "bytes"])
    }

    /// `bytes=A-B`, `bytes=A-` or `bytes=-N` of an object of `size` bytes; nil when the header
    /// is not one range, `.failure` when it lies past the end.
    static func range(_ header: String, size: Int) -> Result<Range<Int>, RangeRefused>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        if spec[0].isEmpty {
            guard let suffix = Int(spec[1]), suffix > 0 else { return nil }
            return .success(max(0, size - suffix)..<size)
        }
        guard let start = Int(spec[0]), start >= 0 else { return nil }
        if spec[1].isEmpty { return start < size ? .success(start..<size) : .failure(RangeRefused()) }
        guard let end = Int(spec[1]), end >= start else { return nil }
        guard start < size else { return .failure(RangeRefused()) }
        return .success(start..<min(end + 1, size))
    }

    struct RangeRefused: Error {}

    func get(_ request: Request, _ context: ServerRequestContext, account: String, base: String, key: String) async throws -> Response {
        if key.hasPrefix("data/") {
            let address = context.remoteAddress?.ipAddress.flatMap(NetworkRange.address)
            if book.account(account)?.mayRestore(from: address) == false {
                log.note("\(context.clientText) \(account) GET \(base)\(key) refused: \(context.clientText) is not in the account's restore-from")
                return Self.refusal(
                    .forbidden, "restore-not-allowed",
                    "account '\(account)' may restore only from its allowed addresses (restore-from), and this request came from \(context.clientText); ask the server's administrator")
            }
        }
        guard let item = try await storage.stat(base + key) else {
            return Self.refusal(.notFound, "not-found", "\(key) does not exist in repository '\(base.dropLast())'")
        }
        // A whole object is read in one piece (one open, or one request): a replacement of it
        // meanwhile gives the old version or the new one, never a mix or a part.
        if request.headers[.range] == nil, item.size <= Self.wholeReadLimit {
            let bytes: [UInt8]
            do {
                bytes = try await storage.get(base + key)
            } catch StorageError.notFound {
                return Self.refusal(.notFound, "not-found", "\(key) does not exist in repository '\(base.dropLast())'")
            }
            return Response(
                status: .ok, headers: [.acceptRanges: "bytes", .contentLength: String(bytes.count), .contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        var range = 0..<item.size
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.acceptRanges: "bytes"]
        if let header = request.headers[.range] {
            switch Self.range(header, size: item.size) {
            case .success(let asked)?:
                range = asked
                status = .partialContent
                headers[.contentRange] = "bytes \(asked.lowerBound)-\(asked.upperBound - 1)/\(item.size)"
            case .failure?:
                return Self.refusal(.rangeNotSatisfiable, "range", "the range lies past the object's end (\(item.size) bytes)", headers: [.contentRange: "bytes */\(item.size)"])
            case nil:
                return Self.refusal(.badRequest, "range", "the Range header must be one range: bytes=A-B, bytes=A- or bytes=-N")
            }
        }
        headers[.contentLength] = String(range.count)
        headers[.contentType] = "application/octet-stream"
        let storage = self.storage
        let full = base + key
        let span = range
        return Response(
            status: status, headers: headers,
            body: ResponseBody(contentLength: span.count) { writer in
                var offset = span.lowerBound
                while offset < span.upperBound {
                    let count = min(1 << 20, span.upperBound - offset)
                    let piece = try await storage.read(full, range: offset..<(offset + count))
                    try await writer.write(piece.withUnsafeBytes { ByteBuffer(bytes: $0) })
                    offset += count
                }
                try await writer.finish(nil)
            })
    }

    func list(_ request: Request, base: String) async throws -> Response {
        let query = request.uri.queryParameters
        let prefix = query["prefix"].map(String.init) ?? ""
        let after = query["after"].map(String.init)
        let limit = query["limit"].flatMap { Int($0) } ?? 1000
        // A prefix is the start of a key: no part of it may climb out ('..'), be hidden or empty
        // (but its last, which a key continues), or hold a control character.
        func isKeyStart(_ text: String) -> Bool {
            guard text.utf8.count <= 1024, !text.hasPrefix("/") else { return false }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            return parts.enumerated().allSatisfy { index, part in
                (index == parts.count - 1 || !part.isEmpty) && !part.hasPrefix(".") && !part.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
            }
        }
        guard (1...10_000).contains(limit), isKeyStart(prefix), after.map(isKeyStart) ?? true else {
            return Self.refusal(.badRequest, "bad-list", "limit is 1 to 10000; prefix and after are the starts of keys (no '.', '..' or hidden parts)")
        }
        let items = try await storage.list(prefix: base + prefix, after: after.map { base + $0 }, limit: limit)
        struct Page: Encodable {
            struct Object: Encodable {
                var key: String
                var size: Int
            }
            var objects: [Object]
            var truncated: Bool
        }
        return Self.json(Page(objects: items.map { Page.Object(key: String($0.key.dropFirst(base.count)), size: $0.size) }, truncated: items.count == limit))
    }

    func put(_ request: Request, _ context: ServerRequestContext, _ place: Place, replicating: Bool) async throws -> Response {
        let (account, key, full) = (place.account, place.key, place.storageKey)
        guard let length = request.headers[.contentLength].flatMap({ Int($0) }), (0...Self.objectLimit).contains(length) else {
            await Self.drain(request)
            return Self.refusal(.lengthRequired, "length", "an upload says its size (Content-Length, at most \(Self.objectLimit) bytes)")
        }
        guard let hashText = request.headers[Self.hashHeader]?.lowercased(), hashText.count == 64, hashText.allSatisfy(\.isHexDigit) else {
            await Self.drain(request)
            return Self.refusal(.badRequest, "missing-hash", "an upload says its SHA-256 in X-Cairn-SHA256 (64 hex digits)")
        }
        let conditional = request.headers[.ifNoneMatch] == "*"
        let settings = book.account(account)
        let existing = try await storage.stat(full)
        if conditional, existing != nil {
            await Self.drain(request)
            return Self.refusal(.preconditionFailed, "exists", "\(key) exists already")
        }
        if !replicating, settings?.appendOnly == true, existing != nil, !key.hasPrefix("locks/") {
            await Self.drain(request)
            log.note("\(context.clientText) \(account) PUT \(full) refused: the account is append-only")
            return Self.refusal(.forbidden, "append-only", "account '\(account)' is append-only: \(key) exists and cannot be replaced")
        }
        if conditional, length > Self.conditionalLimit {
            await Self.drain(request)
            return Self.refusal(.contentTooLarge, "too-large", "a put-if-absent upload is at most \(Self.conditionalLimit) bytes")
        }
        let replacing = existing?.size ?? 0
        if let (used, quota) = book.reserve(account, bytes: length, replacing: replacing, enforcing: !replicating) {
            await Self.drain(request)
            let message =
                "quota exceeded: account '\(account)' uses \(ByteCountText.format(UInt64(max(0, used)))) of its \(ByteCountText.format(UInt64(quota))) quota, and this upload needs \(ByteCountText.format(UInt64(length))) more; nothing was stored (ask the server's administrator to raise the quota, or prune)"
            log.note("\(context.clientText) \(account) PUT \(full) refused: \(message)")
            return Self.refusal(ObjectAPI.insufficientStorage, "quota-exceeded", message, extra: ["usage": used, "quota": quota, "needed": length])
        }
        var stored = 0
        var replaced = 0
        defer { book.settle(account, reserved: length, stored: stored, replaced: replaced) }
        let hasher = SHA256Stream()
        var received = 0
        var expected = [UInt8]()
        var index = hashText.startIndex
        while index < hashText.endIndex {
            let next = hashText.index(index, offsetBy: 2)
            expected.append(UInt8(hashText[index..<next], radix: 16)!)
            index = next
        }
        if conditional {
            let admitted = heldInMemory.take(length, limit: Self.conditionalTotal)
            guard admitted else {
                await Self.drain(request)
                return Self.refusal(.serviceUnavailable, "busy", "too many put-if-absent uploads at once; try again")
            }
            defer { heldInMemory.give(length) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(length)
            for try await buffer in request.body {
                received += buffer.readableBytes
                guard received <= length else { break }
                buffer.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
            }
            if let refusal = Self.check(received: received, length: length, hash: Hashing.sha256(bytes), expected: expected, key: key) { return refusal }
            let created = try await keyLocks.withLock(full) { () async throws -> Bool in
                // Queued first: a crash between storing and queueing cannot lose it from the replica.
                let entry = await replication?.stored(place, size: length, sha256: expected, log: log)
                do {
                    guard try await storage.putIfAbsent(full, bytes) else {
                        await replication?.withdraw(entry)
                        return false
                    }
                } catch {
                    await replication?.withdraw(entry)
                    throw error
                }
                return true
            }
            guard created else { return Self.refusal(.preconditionFailed, "exists", "\(key) exists already") }
            stored = length
        } else {
            let upload = try await storage.openUpload(full)
            for try await buffer in request.body {
                received += buffer.readableBytes
                guard received <= length else { break }
                buffer.withUnsafeReadableBytes { hasher.update($0) }
                try await upload.write(contentsOf: buffer)
                FaultInjection.reach("server-upload-part")
            }
            // A body that ends short or long, or whose hash differs, is dropped with its
            // temporary file: nothing of it is ever seen under the key.
            if let refusal = Self.check(received: received, length: length, hash: hasher.finish(), expected: expected, key: key) { return refusal }
            // What exists now, under the key's lock: an append-only account's object that
            // appeared while this upload was under way is not replaced either.
            let outcome = try await keyLocks.withLock(full) { () async throws -> Int? in
                let now = try await storage.stat(full)
                if !replicating, settings?.appendOnly == true, now != nil, !key.hasPrefix("locks/") { return nil }
                let entry = await replication?.stored(place, size: length, sha256: expected, log: log)
                do {
                    try await upload.commit()
                } catch {
                    await replication?.withdraw(entry)
                    throw error
                }
                return now?.size ?? 0
            }
            guard let outcome else {
                log.note("\(context.clientText) \(account) PUT \(full) refused: the account is append-only")
                return Self.refusal(.forbidden, "append-only", "account '\(account)' is append-only: \(key) exists and cannot be replaced")
            }
            stored = length
            replaced = outcome
        }
        log.note("\(context.clientText) \(account) PUT \(full) \(length) bytes\(replicating ? " (replicated)" : "")")
        return Response(status: .created, headers: [.contentLength: "0"])
    }

    static func check(received: Int, length: Int, hash: [UInt8], expected: [UInt8], key: String) -> Response? {
        guard received == length else {
            return refusal(.badRequest, "size-mismatch", "\(key): \(received) bytes arrived of the \(length) announced; nothing was stored")
        }
        guard hash == expected else {
            return refusal(.badRequest, "hash-mismatch", "\(key): the bytes that arrived do not have the SHA-256 announced; nothing was stored")
        }
        return nil
    }

    func delete(_ context: ServerRequestContext, _ place: Place, replicating: Bool) async throws -> Response {
        let (account, key, full) = (place.account, place.key, place.storageKey)
        if !replicating, book.account(account)?.appendOnly == true, !key.hasPrefix("locks/") {
            log.note("\(context.clientText) \(account) DELETE \(full) refused: the account is append-only")
            return Self.refusal(
                .forbidden, "append-only",
                "account '\(account)' is append-only: nothing in it can be deleted from a client; expiry runs on the server (cairn server prune \(account))")
        }
        try await keyLocks.withLock(full) {
            if let item = try await storage.stat(full) {
                try await storage.delete(full)
                book.removed(account, bytes: item.size)
                await replication?.deleted(place, log: log)
                log.note("\(context.clientText) \(account) DELETE \(full)\(replicating ? " (replicated)" : "")")
            }
        }
        return Response(status: .noContent)
    }
}
