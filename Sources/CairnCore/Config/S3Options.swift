import Foundation

/// What an `s3://BUCKET/PREFIX` account says besides its destination: where the object store
/// is, how to address it, and where its credentials come from (references, never values).
public struct S3Options: Hashable, Sendable {
    public var bucket: String
    /// Empty, or ending in `/`: the repositories are folders under it.
    public var prefix: String
    /// `https://host[:port]`; AWS's endpoint for the region when nil.
    public var endpoint: String?
    public var region: String?
    /// The bucket in the path rather than in the host name (MinIO and most self-hosted servers).
    public var pathStyle: Bool
    public var storageClass: String?
    /// Requests at once (16 by default).
    public var maxRequests: Int
    /// nil: the usual AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then AWS_PROFILE's
    /// or the default profile in ~/.aws/credentials).
    public var credentials: Credentials?

    public struct Credentials: Hashable, Sendable {
        public var accessKeyID: SecretReference
        public var secretAccessKey: SecretReference
        public var sessionToken: SecretReference?
    }

    public static let defaultMaxRequests = 16

    /// The bucket and prefix of `s3://BUCKET/PREFIX`, or why it is not one.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public static func parse(_ url: String) -> Result<(bucket: String, prefix: String), Invalid> {
        guard url.lowercased().hasPrefix("s3://") else { return .failure(Invalid("an S3 destination is s3://BUCKET or s3://BUCKET/PREFIX")) }
        let rest = url.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        // The names S3 allows for new buckets: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit.
        let allowed = bucket.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "." || $0 == "-" }
        guard (3...63).contains(bucket.count), allowed, bucket.first!.isLetter || bucket.first!.isNumber, bucket.last!.isLetter || bucket.last!.isNumber,
            !bucket.contains("..")
        else {
            return .failure(Invalid("'\(bucket)' is not a bucket name (3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit)"))
        }
        let path = rest.dropFirst(bucket.count).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let parts = path.filter { !$0.isEmpty }
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { return .failure(Invalid("the prefix after the bucket has a '.' or '..' part")) }
        guard !parts.contains(where: { $0.contains { $0.isNewline || ($0.isASCII && $0.asciiValue! < 32) } }) else {
            return .failure(Invalid("the prefix after the bucket has a control character"))
        }
        return .success((bucket, parts.isEmpty ? "" : parts.joined(separator: "/") + "/"))
    }
}
