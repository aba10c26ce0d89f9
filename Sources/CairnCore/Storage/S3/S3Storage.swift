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
        public var timeout: TimeInterval

        public init(
            endpoint: URL, bucket: String, prefix: String, region: String, pathStyle: Bool, storageClass: String? = nil,
            credentials: SigV4Signer.Credentials, concurrentRequests: Int = 16, timeout: TimeInterval = 60
        ) {
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

    public init(_ settings: Settings) {
        self.settings = settings
        signer = SigV4Signer(credentials: settings.credentials, region: settings.region)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        configuration.httpMaximumConnectionsPerHost = settings.concurrentRequests
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    public var location: String { "s3://\(settings.bucket)/\(settings.prefix)" }

    public var capabilities: StorageCapabilities {
        // A request costs a round trip: objects of a pack closer than a megabyte are read in one.
        StorageCapabilities(concurrentRequests: settings.concurrentRequests, atomicPutIfAbsent: true, rangedReadOverhead: 1 << 20)
    }

    // MARK: requests

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// The host header and the URL of an object (`key` nil: the bucket itself).
    private func address(_ key: String?, query: [(name: String, value: String)]) -> (url: URL, host: String, path: String) {
        let endpoint = settings.endpoint
        var host = endpoint.host ?? ""
        if let port = endpoint.port { host += ":\(port)" }
        let object = key.map { SigV4Signer.encode(settings.prefix + $0, keepSlash: true) } ?? ""
        let path: String
        if settings.pathStyle {
            path = "/" + SigV4Signer.encode(settings.bucket) + "/" + object
        } else {
            host = settings.bucket + "." + host
            path = "/" + object
        }
        let queryText = query.map { SigV4Signer.encode($0.name) + "=" + SigV4Signer.encode($0.value) }.joined(separator: "&")
        let url = URL(string: "\(endpoint.scheme ?? "https")://\(host)\(path)\(queryText.isEmpty ? "" : "?" + queryText)")!
        return (url, host, path)
    }

    func send(
        _ method: String, _ key: String?, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) async throws -> Response {
        let (url, host, path) = address(key, query: query)
        let payloadHash = body.isEmpty ? SigV4Signer.emptyPayloadHash : SigV4Signer.hex(Hashing.sha256(body))
        var all = headers + [("x-amz-content-sha256", payloadHash)]
        let request = SigV4Signer.Request(method: method, path: path, query: query, headers: [("host", host)] + all, payloadHash: payloadHash)
        all += signer.sign(request, at: Date())
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = method
        for (name, value) in all { urlRequest.setValue(value, forHTTPHeaderField: name) }
        if !body.isEmpty || method == "PUT" {
            urlRequest.httpBody = Data(body)
            urlRequest.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
        }
        let place = location + (key ?? "")
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await withCheckedThrowingContinuation { continuation in
                session.dataTask(with: urlRequest) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else if let response {
                        continuation.resume(returning: (data ?? Data(), response))
                    } else {
                        continuation.resume(throwing: URLError(.badServerResponse))
                    }
                }.resume()
            }
        } catch {
            throw StorageError.transient(place, "\(settings.endpoint.absoluteString) could not be reached: \((error as NSError).localizedDescription)")
        }
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
        let response = try await send("GET", key)
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
        let response = try await send("GET", key, headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")])
        switch response.status {
        case 206:
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
            guard range.upperBound <= response.body.count else { throw StorageError.outOfRange(location + key) }
            return StorageBuffer(Array(response.body[range]))
        default:
            throw failure(response, key)
        }
    }

    private func storageHeaders() -> [(name: String, value: String)] {
        settings.storageClass.map { [("x-amz-storage-class", $0)] } ?? []
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try StorageKey.check(key)
        let response = try await send("PUT", key, headers: storageHeaders(), body: data)
        guard response.status == 200 else { throw failure(response, key) }
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try StorageKey.check(key)
        let response = try await send("PUT", key, headers: storageHeaders() + [("If-None-Match", "*")], body: data)
        switch response.status {
        case 200: return true
        case 412: return false
        default: throw failure(response, key)
        }
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        try StorageKey.check(key)
        let response = try await send("HEAD", key)
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
            let explained = try await send("GET", key, headers: [("Range", "bytes=0-0")])
            throw failure(explained.status == 200 || explained.status == 206 || explained.status == 404 ? response : explained, key)
        default: throw failure(response, key)
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        var items: [StorageItem] = []
        var token: String?
        repeat {
            var query: [(name: String, value: String)] = [
                ("list-type", "2"), ("prefix", settings.prefix + prefix), ("encoding-type", "url"), ("max-keys", String(min(1000, max(1, limit - items.count)))),
            ]
            if let token { query.append(("continuation-token", token)) } else if let after { query.append(("start-after", settings.prefix + after)) }
            let response = try await send("GET", nil, query: query)
            guard response.status == 200 else { throw failure(response, nil) }
            let text = String(decoding: response.body, as: UTF8.self)
            for entry in XMLText.all("Contents", in: text) {
                guard let encoded = XMLText.first("Key", in: entry), let name = encoded.removingPercentEncoding,
                    let size = XMLText.first("Size", in: entry).flatMap(Int.init), name.hasPrefix(settings.prefix)
                else { throw StorageError.io(location, "a listing that cannot be read") }
                let key = String(name.dropFirst(settings.prefix.count))
                if let after, key <= after { continue }
                items.append(StorageItem(key: key, size: size))
            }
            token = XMLText.first("IsTruncated", in: text) == "true" ? XMLText.first("NextContinuationToken", in: text) : nil
        } while token != nil && items.count < limit
        return Array(items.prefix(limit))
    }

    public func delete(_ key: String) async throws {
        try StorageKey.check(key)
        let response = try await send("DELETE", key)
        guard response.status == 204 || response.status == 200 || response.status == 404 else { throw failure(response, key) }
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
