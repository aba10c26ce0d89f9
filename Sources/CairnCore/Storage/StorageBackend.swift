/// Where a repository's files live: a local folder now, object stores and a server later.
///
/// Keys are relative paths with `/` separators (`data/3f/3fa9...`, `snapshots/...`). Backends
/// are small and dumb on purpose: retrying, dry runs and rate limits wrap a backend, and
/// everything that knows about repositories lives above this protocol.
public protocol StorageBackend: Sendable {
    /// A description for messages, such as the folder's path.
    var location: String { get }

    /// The whole file. Throws `StorageError.notFound` when there is none.
    func get(_ key: String) async throws -> [UInt8]

    /// `range` of the file's bytes. Throws `notFound`, or `outOfRange` when the range goes
    /// past the end.
    func get(_ key: String, range: Range<Int>) async throws -> [UInt8]

    /// Calls `body` with `range` of the file's bytes, valid only during the call; throws as
    /// `get(_:range:)` does. A backend may read them into memory of its own: the local folder
    /// reads large ranges past the page cache.
    func withBytes<Result>(_ key: String, range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> Result) async throws -> Result

    /// Stores `data` under `key`, replacing what was there. Atomic: a reader sees the old file
    /// or the new one, never a part; once this returns, the file survives a crash.
    func put(_ key: String, _ data: [UInt8]) async throws

    /// Stores `data` only if nothing is stored under `key`; returns whether it did. Atomic in
    /// the same way as `put`, and decided by the storage, so two writers cannot both win.
    func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool

    /// The file's size, or nil when there is none.
    func stat(_ key: String) async throws -> StorageItem?

    /// Up to `limit` files whose keys start with `prefix` and sort after `after`, in key order.
    func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem]

    /// Removes the file. Idempotent: removing a missing file succeeds.
    func delete(_ key: String) async throws

    /// A file to be written piece by piece (a pack while it fills) and stored under `key` when
    /// it is committed, as atomically and durably as `put`. One dropped without a commit
    /// leaves nothing behind. The default gathers the pieces in memory and puts them.
    func openUpload(_ key: String) throws -> any StorageUpload

    /// Removes what writes cut short (a crash, a killed run) left under `prefix`; returns how
    /// many. Only while nothing writes there: prune, under the repository's exclusive lock.
    func removeUnfinished(prefix: String) async throws -> Int
}

/// A file being written: see `StorageBackend.openUpload`. Used by one task at a time.
public protocol StorageUpload: AnyObject, Sendable {
    /// Appends `bytes`. May wait for the device when it falls behind.
    func write(_ bytes: UnsafeRawBufferPointer) throws

    /// Stores what was written under the key; once this returns, the file survives a crash.
    func commit() async throws
}

/// The default upload: the pieces in memory, then one `put`.
final class BufferedUpload: StorageUpload, @unchecked Sendable {
    private let storage: any StorageBackend
    private let key: String
    private var bytes: [UInt8] = []

    init(storage: any StorageBackend, key: String) {
        self.storage = storage
        self.key = key
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }

    func commit() async throws {
        try await storage.put(key, bytes)
    }
}

public struct StorageItem: Hashable, Sendable {
    public var key: String
    public var size: Int

    public init(key: String, size: Int) {
        self.key = key
        self.size = size
    }
}

extension StorageBackend {
    public func openUpload(_ key: String) throws -> any StorageUpload {
        try StorageKey.check(key)
        return BufferedUpload(storage: self, key: key)
    }

    public func removeUnfinished(prefix: String) async throws -> Int { 0 }

    public func withBytes<Result>(_ key: String, range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> Result) async throws -> Result {
        let bytes = try await get(key, range: range)
        return try bytes.withUnsafeBytes(body)
    }

    /// Every file under `prefix`, fetching page by page.
    public func listAll(prefix: String, pageSize: Int = 1000) async throws -> [StorageItem] {
        var items: [StorageItem] = []
        var after: String?
        while true {
            let page = try await list(prefix: prefix, after: after, limit: pageSize)
            items += page
            guard page.count == pageSize, let last = page.last else { return items }
            after = last.key
        }
    }
}

/// What can go wrong in storage, in words that say where and what to do.
public enum StorageError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case outOfRange(String)
    case invalidKey(String)
    case noSpace(String)
    case permissionDenied(String)
    case readOnly(String)
    case io(String, String)

    /// A file that is there but whose bytes are wrong (shorter than its reader expects): damage,
    /// not a failure of the storage.
    public var isDamage: Bool {
        if case .outOfRange = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let key): return "\(key) does not exist"
        case .outOfRange(let key): return "\(key) is shorter than the range read from it: it is damaged"
        case .invalidKey(let key): return "'\(key)' is not a valid storage key"
        case .noSpace(let path): return "no space left on the device holding \(path); nothing was lost, free some space and run again"
        case .permissionDenied(let path): return "permission denied: \(path)"
        case .readOnly(let path): return "\(path) is on a read-only file system"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}
