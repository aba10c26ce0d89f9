import Foundation

/// What a job asked of a storage that charges by request (an object store): requests by kind,
/// and bytes sent and received. Every request sent counts, retries and refused ones included,
/// because each one is billed. Shared by the storages one job opens; safe from any thread.
public final class StorageTraffic: @unchecked Sendable {
    public struct Summary: Codable, Sendable, Equatable {
        /// By the server's name for the request: GetObject, PutObject, ListObjectsV2...
        public var requests: [String: Int] = [:]
        public var bytesUp = 0
        public var bytesDown = 0

        public init() {}

        public var total: Int { requests.values.reduce(0, +) }

        /// `storage: 12 requests (GetObject 4, ListObjectsV2 2, PutObject 6), 1.2 MiB up, 3.0 KiB down`.
        public var line: String {
            let kinds = requests.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return
                "storage: \(total) request\(total == 1 ? "" : "s")\(kinds.isEmpty ? "" : " (\(kinds))"), \(ByteCountText.format(UInt64(bytesUp))) up, \(ByteCountText.format(UInt64(bytesDown))) down"
        }
    }

    private let lock = NSLock()
    private var counts = Summary()

    public init() {}

    public func record(_ kind: String, up: Int, down: Int) {
        lock.withLock {
            counts.requests[kind, default: 0] += 1
            counts.bytesUp += up
            counts.bytesDown += down
        }
    }

    public var summary: Summary { lock.withLock { counts } }
}
