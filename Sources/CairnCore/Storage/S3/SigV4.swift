import Foundation

/// AWS Signature Version 4 for requests signed in their headers, written over OpenSSL's
/// HMAC-SHA-256 and SHA-256 (no S3 client package is available to build on). Checked against
/// AWS's published test vectors and against botocore's signer (CairnCoreTests/SigV4Tests).
///
/// The canonical request is where a signature goes wrong, and every object store answers the
/// same `SignatureDoesNotMatch`, so each step is a function of its own that the tests compare:
/// `canonicalRequest`, `stringToSign`, `signature`.
public struct SigV4Signer: Sendable {
    /// Printed, dumped or compared in a failed test, they show the access key alone.
    public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public var accessKey: String
        public var secretKey: String
        public var sessionToken: String?

        public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
            self.accessKey = accessKey
            self.secretKey = secretKey
            self.sessionToken = sessionToken
        }

        public var description: String { "access key \(accessKey) (secret not shown)" }
        public var debugDescription: String { description }
        public var customMirror: Mirror { Mirror(self, children: ["accessKey": accessKey]) }
    }

    /// A request to sign. `path` is the URI path as sent, each segment already encoded once
    /// (S3 signs it as it is: no second encoding, no normalisation); `query` is decoded names
    /// and values.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: [(name: String, value: String)]
        /// The SHA-256 of the body, hex, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: Credentials
    public let region: String
    public let service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// `20150830T123600Z` for `date`.
    public static func timestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// The headers to add to `request` (which must carry `host`): `x-amz-date`, the session
    /// token when there is one, and `authorization`. `x-amz-content-sha256`, which S3 requires,
    /// is the caller's to add before signing.
    public func sign(_ request: Request, at date: Date) -> [(name: String, value: String)] {
        let stamp = Self.timestamp(date)
        var added: [(name: String, value: String)] = [("x-amz-date", stamp)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        var signed = request
        signed.headers += added
        let (canonical, signedHeaders) = Self.canonicalRequest(signed)
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let toSign = Self.stringToSign(timestamp: stamp, scope: scope, canonicalRequest: canonical)
        let signature = signature(of: toSign, day: String(stamp.prefix(8)))
        added.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The canonical request and the signed headers' names.
    public static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        // Sorted by encoded name, then value, byte by byte.
        let pairs: [(name: String, value: String)] = request.query.map { (encode($0.name), encode($0.value)) }
        let query = pairs.sorted { (left, right) -> Bool in
            left.name == right.name ? Array(left.value.utf8).lexicographicallyPrecedes(right.value.utf8) : Array(left.name.utf8).lexicographicallyPrecedes(right.name.utf8)
        }
        let canonicalQuery = query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        // Names lower-cased, values trimmed with inner runs of spaces made one; a name given
        // twice is one header with its values joined by commas, in order.
        var headers: [String: [String]] = [:]
        for (name, value) in request.headers {
            let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            headers[name.lowercased(), default: []].append(trimmed)
        }
        let names = headers.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let path = request.path.isEmpty ? "/" : request.path
        return ([request.method, path, canonicalQuery, canonicalHeaders, signedHeaders, request.payloadHash].joined(separator: "\n"), signedHeaders)
    }

    public static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        ["AWS4-HMAC-SHA256", timestamp, scope, hex(Hashing.sha256(Array(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    /// The signature of `stringToSign` with the key derived for `day` (YYYYMMDD).
    public func signature(of stringToSign: String, day: String) -> String {
        var key = Hashing.hmacSHA256(key: Array("AWS4\(credentials.secretKey)".utf8), Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = Hashing.hmacSHA256(key: key, Array(part.utf8)) }
        return Self.hex(Hashing.hmacSHA256(key: key, Array(stringToSign.utf8)))
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (A-Z a-z 0-9 - _ . ~),
    /// with upper-case hex; `/` kept when `keepSlash` (an object key's path).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                result.append("/")
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
