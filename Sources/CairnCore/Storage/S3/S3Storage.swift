import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An S3-compatible bucket as a repository's storage (AWS S3, MinIO, Ceph RGW, Backblaze B2,
/// Wasabi, Cloudflare R2): each repository file an object under `prefix`, requests signed with
/// Signature V4 (`SigV4Signer`) and sent through FoundationNetworking's URLSession (it ships
/// with the toolchain, so it costs no package build). Small and dumb like every backend:
/// retries, counting and caching live in the layers above.
public final class S3Storage: StorageBackend, Sendable {
    public struct Settings: Sendable, Equatable {
        /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`: scheme, host, port.
        public var endpoint: URL
        public var bucket: String
        /// Where the repository's objects live in the bucket: empty, or ending in `/`.
        public var prefix: String
        public var region: String
        /// Bucket in the path (`endpoint/bucket/key`: MinIO and most self-hosted servers)
        /// rather than in the host name (`bucket.endpoint/key`: AWS).
        public var pathStyle: Bool
        public var storageClass: String?
        public var credentials: SigV4Signer.Credentials
        public var concurrentRequests: Int
        /// How long a request may wait for the server's next bytes. FoundationNetworking's
        /// URLSession does not notice a PUT whose reused connection was reset and waits this
        /// out (then the retry goes on): uploads of `freshConnectionMinimum` bytes or more
        /// go on connections of their own, where a reset fails at once.
        public var timeout: TimeInterval
        /// An upload that grows past this is sent in parts (multipart upload); smaller ones,
        /// packs among them, in one PUT.
        public var multipartThreshold: Int
        /// The size of each part but the last (S3's smallest is 5 MiB).
        public var partSize: Int

        public init(
            endpoint: URL, bucket: String, prefix: String, region: String, pathStyle: Bool, storageClass: String? = nil,
            credentials: SigV4Signer.Credentials, concurrentRequests: Int = 16, timeout: TimeInterval = 30,
            multipartThreshold: Int = 32 << 20, partSize: Int = 16 << 20
        ) {
            self.multipartThreshold = multipartThreshold
            self.partSize = max(5 << 20, partSize)
            self.endpoint = endpoint
            self.bucket = bucket
            self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
            self.region = region
            self.pathStyle = pathStyle
            self.storageClass = storageClass
            self.credentials = credentials
            self.concurrentRequests = concurrentRequests
            self.timeout = timeout
        }
    }

    public let settings: Settings
    private let signer: SigV4Signer
    private let session: URLSession
    /// The run's clock: requests are signed with its time.
    private let clock: any WallClock

    /// Where requests are counted: the job's, shared by the storages it opens.
    public let traffic: StorageTraffic?

    public init(_ settings: Settings, clock: any WallClock = SystemClock(), traffic: StorageTraffic? = nil) {
        self.settings = settings
        self.traffic = traffic
        self.clock = clock
        signer = SigV4Signer(credentials: settings.credentials, region: settings.region)
        session = Self.session(settings)
        probe = ConditionalWriteProbe()
    }

    private static func session(_ settings: Settings) -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        configuration.httpMaximumConnectionsPerHost = settings.concurrentRequests
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    /// Uploads at least this large (packs, parts) go on a connection of their own, made for
    /// them and closed after: a reset in the middle of a PUT on a reused keep-alive connection
    /// is noticed by URLSession only when the request times out (measured: 30 s every time,
    /// against 0.1 s on a fresh connection; docs/BENCHMARKS.md), and a connection costs little
    /// beside megabytes sent.
    static let freshConnectionMinimum = 1 << 20

    /// A redirect would send the signed headers (the session token among them) to another host:
    /// never followed; the 3xx answer is an error that names the bucket's endpoint.
    final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
            completionHandler: @escaping (URLRequest?) -> Void
        ) {
            completionHandler(nil)
        }
    }

    /// A request's URLSession task, cancelled when the job's task is (before or after it starts).
    final class RunningRequest: @unchecked Sendable {
        private let lock = NSLock()
        private var task: URLSessionDataTask?
        private var cancelled = false

        /// Sends the request, unless it was cancelled already: then false, and nothing is sent.
        func start(_ task: URLSessionDataTask) -> Bool {
            lock.withLock {
                guard !cancelled else { return false }
                self.task = task
                // Resumed under the lock: a cancel waits for it, and then cancels it.
                task.resume()
                return true
            }
        }

        func cancel() {
            let task = lock.withLock {
                cancelled = true
                return self.task
            }
            task?.cancel()
        }
    }

    /// Whether the server honours If-None-Match on PUT, found out once (see `putIfAbsent`).
    final class ConditionalWriteProbe: @unchecked Sendable {
        let state = NSLock()
        var known: Bool?
        /// False once the server said it does not offer batch deletes.
        var batchDelete: Bool?
    }
    private let probe: ConditionalWriteProbe

    deinit { session.finishTasksAndInvalidate() }

    public var location: String { "s3://\(settings.bucket)/\(settings.prefix)" }

    public var capabilities: StorageCapabilities {
        // A request costs a round trip (tens of milliseconds: a few megabytes' worth) and is
        // paid for: objects of a pack up to half a pack apart are read in one request (at most
        // 8 MiB read that is not used, for a request saved; the bench restore made 16 GETs of
        // data with 1 MiB, 8 with this, as restic's one per pack).
        StorageCapabilities(concurrentRequests: settings.concurrentRequests, atomicPutIfAbsent: true, rangedReadOverhead: 8 << 20)
    }

    // MARK: requests

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// The host header and the URL of an object (`key` nil: the bucket itself).
    private func address(_ key: String?, query: [(name: String, value: String)]) throws -> (url: URL, host: String, path: String) {
        let endpoint = settings.endpoint
        let scheme = endpoint.scheme?.lowercased() ?? "https"
        let name = endpoint.host ?? ""
        // An IPv6 address keeps its brackets; a default port is left out, as the HTTP client
        // leaves it out of the Host header it sends.
        var host = name.contains(":") && !name.hasPrefix("[") ? "[\(name)]" : name
        if let port = endpoint.port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) { host += ":\(port)" }
        let object = key.map { SigV4Signer.encode(settings.prefix + $0, keepSlash: true) } ?? ""
        // The bucket in the host name only where that can work: not before an IP address or
        // localhost, and not a bucket with dots over https (no certificate covers it).
        let numeric = name.contains(":") || name == "localhost" || name.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        let path: String
        if settings.pathStyle || numeric || (scheme == "https" && settings.bucket.contains(".")) {
            path = "/" + SigV4Signer.encode(settings.bucket) + "/" + object
        } else {
            host = settings.bucket + "." + host
            path = "/" + object
        }
        let queryText = query.map { SigV4Signer.encode($0.name) + "=" + SigV4Signer.encode($0.value) }.joined(separator: "&")
        guard let url = URL(string: "\(scheme)://\(host)\(path)\(queryText.isEmpty ? "" : "?" + queryText)") else {
            throw StorageError.invalidKey(location + (key ?? ""))
        }
        return (url, host, path)
    }

    /// Sends one request, counted in `traffic` as `operation` (the server's name for it).
    func send(
        _ operation: String, _ method: String, _ key: String?, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) async throws -> Response {
        let (url, host, path) = try address(key, query: query)
        let payloadHash = body.isEmpty ? SigV4Signer.emptyPayloadHash : SigV4Signer.hex(Hashing.sha256(body))
        var all = headers + [("x-amz-content-sha256", payloadHash)]
        let request = SigV4Signer.Request(method: method, path: path, query: query, headers: [("host", host)] + all, payloadHash: payloadHash)
        all += signer.sign(request, at: clock.now())
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = method
        for (name, value) in all { urlRequest.setValue(value, forHTTPHeaderField: name) }
        // Bytes as they are stored: no compression on the way, no form type on a PUT.
        urlRequest.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if !body.isEmpty || method == "PUT" || method == "POST" {
            urlRequest.httpBody = Data(body)
            urlRequest.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
            if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                urlRequest.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            }
        }
        let place = location + (key ?? "")
        let (data, response): (Data, URLResponse)
        var received = 0
        defer { traffic?.record(operation, up: body.count, down: received) }
        // A large upload on a connection of its own, closed once it is done (never reused).
        let fresh = body.count >= Self.freshConnectionMinimum
        let session = fresh ? Self.session(settings) : self.session
        defer { if fresh { session.finishTasksAndInvalidate() } }
        // A cancelled job (a signal, max-duration) cancels its requests too, not only their waits.
        let running = RunningRequest()
        do {
            (data, response) = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let finished: @Sendable (Data?, URLResponse?, (any Error)?) -> Void = { data, response, error in
                        if let error {
                            continuation.resume(throwing: error)
                        } else if let response {
                            continuation.resume(returning: (data ?? Data(), response))
                        } else {
                            continuation.resume(throwing: URLError(.badServerResponse))
                        }
                    }
                    let task = session.dataTask(with: urlRequest, completionHandler: finished)
                    // Cancelled already: never sent (its completion is then never called).
                    if !running.start(task) { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                running.cancel()
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as URLError where error.code == .cancelled && Task.isCancelled {
            throw CancellationError()
        } catch let error as URLError where [.serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
            .serverCertificateNotYetValid, .clientCertificateRejected, .secureConnectionFailed, .unsupportedURL].contains(error.code) {
            throw StorageError.io(place, "\(settings.endpoint.absoluteString) refused a secure connection: \(error.localizedDescription)")
        } catch {
            throw StorageError.transient(place, "\(settings.endpoint.absoluteString) could not be reached: \((error as NSError).localizedDescription)")
        }
        received = data.count
        guard let http = response as? HTTPURLResponse else { throw StorageError.transient(place, "no HTTP response") }
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return Response(status: http.statusCode, headers: fields, body: Array(data))
    }

    /// The error an answer means: its S3 error code and message, never a credential.
    func failure(_ response: Response, _ key: String?) -> StorageError {
        let place = location + (key ?? "")
        let text = String(decoding: response.body.prefix(4096), as: UTF8.self)
        let code = XMLText.first("Code", in: text) ?? "HTTP \(response.status)"
        let message = XMLText.first("Message", in: text).map { ": \($0)" } ?? ""
        let reason = "\(code)\(message)"
        if code == "NoSuchBucket" {
            return .io(place, "the bucket '\(settings.bucket)' does not exist at \(settings.endpoint.absoluteString) (NoSuchBucket): create it, or check the account's endpoint and region")
        }
        switch (response.status, code) {
        case (_, "RequestTimeout"), (_, "SlowDown"), (_, "InternalError"), (_, "ServiceUnavailable"): return .transient(place, reason)
        case (_, "RequestTimeTooSkewed"):
            return .permissionDenied("\(place) (\(reason); this machine's clock differs from the server's by more than 15 minutes: set it right)")
        case (_, "ExpiredToken"), (_, "TokenRefreshRequired"):
            return .permissionDenied("\(place) (\(reason); the session token has expired: give the account fresh credentials)")
        case (_, "InvalidObjectState"):
            return .io(place, "\(reason): the object is in an archive storage class and must be restored before it can be read")
        case (300...399, _):
            return .io(place, "\(reason) (HTTP \(response.status)): the bucket answers at another endpoint; set the account's endpoint and region to the bucket's")
        case (501, _): return .io(place, "\(reason): the server does not offer this request")
        default: break
        }
        switch response.status {
        case 404: return .notFound(place)
        case 412: return .preconditionFailed(place)
        case 416: return .outOfRange(place)
        case 401, 403:
            return .permissionDenied(
                "\(place) (\(reason); check the account's credentials, region and the bucket's policy)")
        case 408, 429, 500...599: return .transient(place, reason)
        case 409 where code == "ConditionalRequestConflict" || code == "OperationAborted": return .transient(place, reason)
        default: return .io(place, reason)
        }
    }

    // MARK: StorageBackend

    public func get(_ key: String) async throws -> [UInt8] {
        try StorageKey.check(key)
        let response = try await send("GetObject", "GET", key)
        guard response.status == 200 else { throw failure(response, key) }
        if let length = response.headers["content-length"].flatMap(Int.init), length != response.body.count {
            throw StorageError.transient(location + key, "the answer ended after \(response.body.count) of \(length) bytes")
        }
        return response.body
    }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        try StorageKey.check(key)
        guard range.lowerBound >= 0 else { throw StorageError.outOfRange(location + key) }
        if range.isEmpty {
            guard let item = try await stat(key) else { throw StorageError.notFound(location + key) }
            guard range.upperBound <= item.size else { throw StorageError.outOfRange(location + key) }
            return StorageBuffer([])
        }
        let response = try await send("GetObject", "GET", key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")])
        switch response.status {
        case 206:
            if let length = response.headers["content-length"].flatMap(Int.init), length != response.body.count {
                throw StorageError.transient(location + key, "the answer ended after \(response.body.count) of \(length) bytes")
            }
            // A range past the end comes back shorter: that is out of range, not a short read.
            if let total = response.headers["content-range"]?.split(separator: "/").last.flatMap({ Int($0) }), total < range.upperBound {
                throw StorageError.outOfRange(location + key)
            }
            guard response.body.count == range.count else {
                throw StorageError.transient(location + key, "the answer held \(response.body.count) of \(range.count) bytes")
            }
            return StorageBuffer(response.body)
        case 200:
            // A server that ignores ranges sends the whole object.
            if let length = response.headers["content-length"].flatMap(Int.init), length != response.body.count {
                throw StorageError.transient(location + key, "the answer ended after \(response.body.count) of \(length) bytes")
            }
            guard range.upperBound <= response.body.count else { throw StorageError.outOfRange(location + key) }
            return StorageBuffer(Array(response.body[range]))
        default:
            throw failure(response, key)
        }
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        try StorageKey.check(key)
        return S3Upload(storage: self, key: key)
    }

    // MARK: multipart uploads

    /// Starts a multipart upload of `key`; returns its upload id.
    func createMultipartUpload(_ key: String) async throws -> String {
        let response = try await send("CreateMultipartUpload", "POST", key, query: [("uploads", "")], headers: storageHeaders(key))
        guard response.status == 200 else { throw failure(response, key) }
        guard let id = XMLText.first("UploadId", in: String(decoding: response.body, as: UTF8.self)), !id.isEmpty else {
            throw StorageError.transient(location + key, "the server started a multipart upload without saying its id")
        }
        return id
    }

    /// Sends part `number` (from 1); returns its ETag. Sending a part again replaces it.
    func uploadPart(_ key: String, uploadID: String, number: Int, _ bytes: [UInt8]) async throws -> String {
        let response = try await send("UploadPart", "PUT", key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: bytes)
        guard response.status == 200 else { throw failure(response, key) }
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw StorageError.transient(location + key, "the server took part \(number) without giving its ETag")
        }
        return etag
    }

    /// Joins the parts into the object. A retry after an answer that was lost finds the upload
    /// gone (NoSuchUpload): it took effect when the object is there with the size sent.
    func completeMultipartUpload(_ key: String, uploadID: String, parts: [String], size: Int) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in parts.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(XMLText.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try await send(
            "CompleteMultipartUpload", "POST", key, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")], body: Array(xml.utf8))
        let text = String(decoding: response.body.prefix(65536), as: UTF8.self)
        // S3 may answer 200 and then report an error in the body.
        if response.status == 200, text.contains("CompleteMultipartUploadResult") { return }
        if response.status == 200, !text.contains("<Error>") {
            throw StorageError.transient(location + key, "the answer to completing the upload came back incomplete")
        }
        if XMLText.first("Code", in: text) == "NoSuchUpload", let item = try await stat(key), item.size == size { return }
        throw failure(Response(status: response.status == 200 ? 500 : response.status, headers: response.headers, body: response.body), key)
    }

    func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        let response = try await send("AbortMultipartUpload", "DELETE", key, query: [("uploadId", uploadID)])
        guard [200, 204, 404].contains(response.status) else { throw failure(response, key) }
    }

    /// Aborts the multipart uploads under `prefix` that were never completed (a killed run's):
    /// their parts are stored, and charged, until then.
    public func removeAbandonedUploads(prefix: String) async throws -> Int {
        var removed = 0
        var markers: (key: String, upload: String)?
        repeat {
            var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", settings.prefix + prefix), ("encoding-type", "url")]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let response = try await send("ListMultipartUploads", "GET", nil, query: query)
            guard response.status == 200 else { throw failure(response, nil) }
            let text = String(decoding: response.body, as: UTF8.self)
            guard text.contains("</ListMultipartUploadsResult>") else {
                throw StorageError.transient(location, "the listing of multipart uploads came back incomplete")
            }
            let urlEncoded = XMLText.first("EncodingType", in: text) == "url"
            for upload in XMLText.all("Upload", in: text) {
                guard let encoded = XMLText.first("Key", in: upload), let name = Self.listedKey(encoded, urlEncoded: urlEncoded),
                    let id = XMLText.first("UploadId", in: upload), name.hasPrefix(settings.prefix)
                else { throw StorageError.io(location, "a listing of multipart uploads that cannot be read") }
                try await abortMultipartUpload(String(name.dropFirst(settings.prefix.count)), uploadID: id)
                removed += 1
            }
            let previous = markers
            markers = nil
            if XMLText.first("IsTruncated", in: text) == "true" {
                guard let key = XMLText.first("NextKeyMarker", in: text), let upload = XMLText.first("NextUploadIdMarker", in: text) else {
                    throw StorageError.io(location, "the listing of multipart uploads says there is more but not where it goes on")
                }
                let next = (key: Self.listedKey(key, urlEncoded: urlEncoded) ?? key, upload: upload)
                // A listing that does not move on would be asked for forever.
                if let previous, next.key < previous.key || (next.key == previous.key && next.upload == previous.upload) {
                    throw StorageError.io(location, "the listing of multipart uploads goes on from where it was, not past it")
                }
                markers = next
            }
        } while markers != nil
        return removed
    }

    /// The storage class goes on packs only: the descriptor, keys, index, snapshots and locks
    /// are small, read often, and rewritten (locks), where infrequent-access classes charge most.
    private func storageHeaders(_ key: String) -> [(name: String, value: String)] {
        guard key.hasPrefix("data/"), let storageClass = settings.storageClass else { return [] }
        return [("x-amz-storage-class", storageClass)]
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try StorageKey.check(key)
        let response = try await send("PutObject", "PUT", key, headers: storageHeaders(key), body: data)
        guard response.status == 200 else { throw failure(response, key) }
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try StorageKey.check(key)
        let created = try await conditionalPut(key, data)
        if probe.state.withLock({ probe.known }) == true { return created }
        guard created else {
            // Refused: the server honours If-None-Match.
            probe.state.withLock { probe.known = true }
            return false
        }
        try await requireConditionalWrites(key, data)
        return true
    }

    private func conditionalPut(_ key: String, _ data: [UInt8]) async throws -> Bool {
        let response = try await send("PutObject", "PUT", key, headers: storageHeaders(key) + [("If-None-Match", "*")], body: data)
        switch response.status {
        case 200: return true
        // 409: another conditional write of the key is under way; it will have the key.
        case 412, 409 where XMLText.first("Code", in: String(decoding: response.body.prefix(4096), as: UTF8.self)) == "ConditionalRequestConflict": return false
        default: throw failure(response, key)
        }
    }

    /// A server that ignored If-None-Match would answer 200 and overwrite: two hosts creating
    /// one repository, or two runs taking one lock, would both win. So the first conditional
    /// write of a run that creates its object writes the same bytes again, conditionally: the
    /// server must refuse that (one request, where a check object of its own would cost three).
    /// A server that takes it is refused, and the object just written is removed: nothing was
    /// decided by a write that cannot decide.
    private func requireConditionalWrites(_ key: String, _ data: [UInt8]) async throws {
        guard try await conditionalPut(key, data) else {
            probe.state.withLock { probe.known = true }
            return
        }
        try? await delete(key)
        throw StorageError.io(
            location,
            "the server at \(settings.endpoint.absoluteString) ignores conditional writes (If-None-Match: *), which cairn's repository creation and locks need; use a server that honours them (AWS S3 since 2024, MinIO, Ceph RGW)"
        )
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        try StorageKey.check(key)
        let response = try await send("HeadObject", "HEAD", key)
        switch response.status {
        case 200:
            guard let size = response.headers["content-length"].flatMap(Int.init) else {
                throw StorageError.io(location + key, "the server did not say the object's size")
            }
            return StorageItem(key: key, size: size)
        case 404: return nil
        case 400, 401, 403:
            // A HEAD answer has no body to say why: a one-byte GET says it (SignatureDoesNotMatch,
            // InvalidAccessKeyId, AccessDenied), only when something is wrong already.
            let explained = try await send("GetObject", "GET", key, headers: [("Range", "bytes=0-0")])
            throw failure(explained.status == 200 || explained.status == 206 || explained.status == 404 ? response : explained, key)
        default: throw failure(response, key)
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        var items: [StorageItem] = []
        var token: String?
        var emptyPages = 0
        repeat {
            var query: [(name: String, value: String)] = [
                ("list-type", "2"), ("prefix", settings.prefix + prefix), ("encoding-type", "url"), ("max-keys", String(min(1000, max(1, limit - items.count)))),
            ]
            if let token { query.append(("continuation-token", token)) } else if let after { query.append(("start-after", settings.prefix + after)) }
            let response = try await send("ListObjectsV2", "GET", nil, query: query)
            guard response.status == 200 else { throw failure(response, nil) }
            let text = String(decoding: response.body, as: UTF8.self)
            guard text.contains("<ListBucketResult"), text.contains("</ListBucketResult>") else {
                throw StorageError.transient(location, "the listing came back incomplete or is no S3 listing")
            }
            let urlEncoded = XMLText.first("EncodingType", in: text) == "url"
            let entries = XMLText.all("Contents", in: text)
            if let count = XMLText.first("KeyCount", in: text).flatMap(Int.init), count != entries.count {
                throw StorageError.transient(location, "the listing names \(count) objects but holds \(entries.count)")
            }
            for entry in entries {
                // With encoding-type=url, a space comes as '+' (form encoding), a '+' as %2B.
                guard let encoded = XMLText.first("Key", in: entry), let name = Self.listedKey(encoded, urlEncoded: urlEncoded),
                    let size = XMLText.first("Size", in: entry).flatMap(Int.init), name.hasPrefix(settings.prefix)
                else { throw StorageError.io(location, "a listing that cannot be read") }
                let key = String(name.dropFirst(settings.prefix.count))
                if let after, key <= after { continue }
                items.append(StorageItem(key: key, size: size))
            }
            if XMLText.first("IsTruncated", in: text) == "true" {
                guard let next = XMLText.first("NextContinuationToken", in: text), !next.isEmpty else {
                    throw StorageError.io(location, "the listing says there is more but gives no continuation token")
                }
                // A listing that does not move on would be asked for forever.
                emptyPages = entries.isEmpty ? emptyPages + 1 : 0
                guard next != token, emptyPages < 100 else {
                    throw StorageError.io(location, "the listing does not move on (the same continuation token, or page after empty page)")
                }
                token = next
            } else {
                token = nil
            }
        } while token != nil && items.count < limit
        return Array(items.prefix(limit))
    }

    /// A key as a listing gives it: with encoding-type=url, form-encoded (a space as '+').
    static func listedKey(_ text: String, urlEncoded: Bool) -> String? {
        urlEncoded ? text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding : text
    }

    public func delete(_ key: String) async throws {
        try StorageKey.check(key)
        let response = try await send("DeleteObject", "DELETE", key)
        guard response.status == 204 || response.status == 200 || response.status == 404 else { throw failure(response, key) }
    }

    /// A thousand objects per request (DeleteObjects); a server that does not offer it (501,
    /// or NotImplemented) gets one request per object.
    public func delete(_ keys: [String]) async throws {
        for key in keys { try StorageKey.check(key) }
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(start + 1000, keys.count)]
            start += batch.count
            if batch.count == 1 || probe.state.withLock({ probe.batchDelete }) == false {
                for key in batch { try await delete(key) }
                continue
            }
            // Not quiet: every key must come back as removed (or as never there). A server that
            // answered 200 and removed nothing would otherwise pass, and prune would go on to
            // delete packs that index files still name.
            var xml = "<Delete><Quiet>false</Quiet>"
            for key in batch { xml += "<Object><Key>\(XMLText.escape(settings.prefix + key))</Key></Object>" }
            xml += "</Delete>"
            let body = Array(xml.utf8)
            let response = try await send(
                "DeleteObjects", "POST", nil, query: [("delete", "")],
                headers: [("Content-MD5", Data(Hashing.md5(body)).base64EncodedString()), ("Content-Type", "application/xml")], body: body)
            let text = String(decoding: response.body, as: UTF8.self)
            if response.status == 501 || XMLText.first("Code", in: text) == "NotImplemented" {
                probe.state.withLock { probe.batchDelete = false }
                for key in batch { try await delete(key) }
                continue
            }
            guard response.status == 200 else { throw failure(response, nil) }
            guard text.contains("</DeleteResult>") else {
                throw StorageError.transient(location, "the answer to a batch delete came back incomplete")
            }
            var settled = Set(XMLText.all("Deleted", in: text).compactMap { XMLText.first("Key", in: $0) })
            for error in XMLText.all("Error", in: text) {
                let name = XMLText.first("Key", in: error)
                let key = name.map { $0.hasPrefix(settings.prefix) ? String($0.dropFirst(settings.prefix.count)) : $0 }
                let code = XMLText.first("Code", in: error) ?? "an error"
                if code == "NoSuchKey", let name {
                    settled.insert(name)
                    continue
                }
                let message = XMLText.first("Message", in: error).map { ": \($0)" } ?? ""
                let place = location + (key ?? "")
                switch code {
                case "AccessDenied": throw StorageError.permissionDenied("\(place) (\(code)\(message))")
                case "InternalError", "SlowDown", "ServiceUnavailable": throw StorageError.transient(place, "\(code)\(message)")
                default: throw StorageError.io(place, "could not be removed: \(code)\(message)")
                }
            }
            if let missing = batch.first(where: { !settled.contains(settings.prefix + $0) }) {
                throw StorageError.io(
                    location + missing, "the server answered a batch delete without saying it removed this object; nothing is taken for removed that the server did not confirm")
            }
        }
    }
}

/// The few things read from S3's XML answers: the text of elements by name. Answers are
/// small and flat; `&amp;` and the like, and numeric references, are decoded.
enum XMLText {
    static func all(_ name: String, in text: String) -> [String] {
        var found: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(name)>"), let close = rest[open.upperBound...].range(of: "</\(name)>") {
            found.append(decode(String(rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return found
    }

    /// `text` as XML character data.
    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }

    static func first(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"), let close = text[open.upperBound...].range(of: "</\(name)>") else { return nil }
        return decode(String(text[open.upperBound..<close.lowerBound]))
    }

    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var result = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            result += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semicolon) <= 10 else {
                result += rest[amp...]
                return result
            }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": result += "&"
            case "lt": result += "<"
            case "gt": result += ">"
            case "quot": result += "\""
            case "apos": result += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { result.unicodeScalars.append(scalar) } else { result += "&\(entity);" }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return result + rest
    }
}

/// An object written piece by piece: gathered in memory up to the multipart threshold and then
/// sent in one PUT at `commit`; past it, sent as a multipart upload in parts of `partSize` as
/// they fill, so memory stays bounded whatever the object's size. Dropped without a commit, a
/// multipart upload is aborted (and prune's `removeAbandonedUploads` aborts what a killed run
/// left). A write or commit that throws changed nothing and may be called again.
final class S3Upload: StorageUpload, @unchecked Sendable {
    private let storage: S3Storage
    private let key: String
    private var buffer: [UInt8] = []
    private var uploadID: String?
    private var etags: [String] = []
    private var sent = 0
    private var committed = false

    init(storage: S3Storage, key: String) {
        self.storage = storage
        self.key = key
    }

    func write(_ bytes: [UInt8]) async throws {
        // Full parts of what earlier writes gathered go first: if sending one fails, these
        // bytes were not taken, so the write can be tried again as it is.
        try await sendFullParts()
        buffer.append(contentsOf: bytes)
    }

    private func sendFullParts() async throws {
        let settings = storage.settings
        if uploadID == nil {
            guard buffer.count >= settings.multipartThreshold else { return }
            uploadID = try await storage.createMultipartUpload(key)
        }
        while buffer.count >= settings.partSize, let uploadID {
            try await sendPart(Array(buffer[..<settings.partSize]), uploadID: uploadID)
            buffer.removeFirst(settings.partSize)
        }
    }

    private func sendPart(_ part: [UInt8], uploadID: String) async throws {
        let etag = try await storage.uploadPart(key, uploadID: uploadID, number: etags.count + 1, part)
        etags.append(etag)
        sent += part.count
    }

    func commit() async throws {
        try await sendFullParts()
        guard let uploadID else {
            try await storage.put(key, buffer)
            committed = true
            buffer = []
            return
        }
        if !buffer.isEmpty {
            try await sendPart(buffer, uploadID: uploadID)
            buffer = []
        }
        try await storage.completeMultipartUpload(key, uploadID: uploadID, parts: etags, size: sent)
        committed = true
    }

    deinit {
        guard !committed, let uploadID else { return }
        let (storage, key) = (storage, key)
        Task { try? await storage.abortMultipartUpload(key, uploadID: uploadID) }
    }
}
