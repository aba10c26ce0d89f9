/// Where a repository's files live: a local folder now, object stores and a server later.
///
/// Keys are relative paths with `/` separators (`data/3f/3fa9...`, `snapshots/...`). Backends
/// are small and dumb on purpose: they store and fetch bytes, say what they can do
/// (`capabilities`) and classify what goes wrong (`StorageError.category`). Retrying, dry runs
/// and fault injection wrap a backend (`RetryingStorage`, `ReadOnlyStorage`,
/// `FaultInjectingStorage`); everything that knows about repositories lives above this protocol.
/// `StorageRegistry` picks a backend from a destination's URL scheme. `CairnTesting`'s
/// `StorageConformance.check` is the contract every backend's tests run.
public protocol StorageBackend: Sendable {
    /// A description for messages, such as the folder's path.
    var location: String { get }

    /// What the storage can do, for the layers that schedule requests.
    var capabilities: StorageCapabilities { get }

    /// The whole file. Throws `StorageError.notFound` when there is none.
    func get(_ key: String) async throws -> [UInt8]

    /// `range` of the file's bytes, exactly `range.count` of them. Throws `notFound`, or
    /// `outOfRange` when the range goes past the end.
    func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer

    /// Stores `data` under `key`, replacing what was there. Atomic: a reader sees the old file
    /// or the new one, never a part; once this returns, the file survives a crash.
    func put(_ key: String, _ data: [UInt8]) async throws

    /// Stores `data` only if nothing is stored under `key`; returns whether it did. Atomic in
    /// the same way as `put`; decided by the storage when `capabilities.atomicPutIfAbsent`.
    func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool

    /// The file's size, or nil when there is none.
    func stat(_ key: String) async throws -> StorageItem?

    /// Up to `limit` files whose keys start with `prefix` and sort after `after`, in key order.
    func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem]

    /// Removes the file. Idempotent: removing a missing file succeeds.
    func delete(_ key: String) async throws

    /// Removes the files, in as few requests as the storage allows (an object store deletes a
    /// thousand in one). Idempotent like `delete`; on a failure, some may be removed.
    func delete(_ keys: [String]) async throws

    /// A file to be written piece by piece (a pack while it fills) and stored under `key` when
    /// it is committed, as atomically and durably as `put`. One dropped without a commit
    /// leaves nothing visible. The default gathers the pieces in memory and puts them.
    func openUpload(_ key: String) async throws -> any StorageUpload

    /// Removes what uploads cut short by a crash or a killed run left under `prefix` (a local
    /// folder's temporary files; an object store's incomplete multipart uploads); returns how
    /// many. Only while nothing writes there: prune, under the repository's exclusive lock.
    func removeAbandonedUploads(prefix: String) async throws -> Int

    /// Says that `ranges` of the file (sorted, apart) will be read soon: a local folder asks the
    /// kernel to read them into its cache in the background (packs are written past it). A
    /// hint only: nothing is returned or reported. The default does nothing.
    func prefetch(_ key: String, ranges: [Range<Int>])
}

/// A file being written: see `StorageBackend.openUpload`. Used by one task at a time.
///
/// A `write` or `commit` that throws a transient error has changed nothing, so it may be
/// called again (`RetryingStorage` does).
public protocol StorageUpload: AnyObject, Sendable {
    /// Appends `bytes`; suspends (never blocks its thread) while the storage falls behind.
    func write(_ bytes: [UInt8]) async throws

    /// The same for bytes held in a buffer of their owner's (the server's network buffers),
    /// read where they are: a local folder copies them straight into its write buffer.
    func write(contentsOf bytes: some UploadBytes) async throws

    /// Stores what was written under the key; once this returns, the file survives a crash.
    func commit() async throws
}

/// What a backend can do, declared by it.
public struct StorageCapabilities: Sendable, Equatable {
    /// Requests that may run at once and gain from it (a disk: a few; an object store: tens).
    public var concurrentRequests: Int
    /// Whether `putIfAbsent` is decided by the storage itself, so two writers cannot both win.
    public var atomicPutIfAbsent: Bool
    /// What a ranged read costs beyond its bytes, as the number of bytes that could be read in
    /// the same time: objects of one pack closer than this are better read in one request.
    public var rangedReadOverhead: Int
    /// Whether what a backup writes (`openUpload`, an upload's writes and commit, `put`) runs
    /// to its end whatever its task's cancellation: nothing waits on a network or a timer. A
    /// repository then fills its pack on the storing task itself; otherwise on a task of its
    /// own, so a stop cannot cut a write short for every object of the pack.
    public var writesRunToCompletion: Bool

    public init(concurrentRequests: Int, atomicPutIfAbsent: Bool, rangedReadOverhead: Int, writesRunToCompletion: Bool = false) {
        self.concurrentRequests = concurrentRequests
        self.atomicPutIfAbsent = atomicPutIfAbsent
        self.rangedReadOverhead = rangedReadOverhead
        self.writesRunToCompletion = writesRunToCompletion
    }
}

/// Bytes read from a storage, held as the backend read them (an array, or memory aligned for
/// reads past the page cache), without a copy. A slice shares its parent's memory: one read
/// of several objects serves each of them.
public struct StorageBuffer: Sendable {
    /// The memory: freed when the last buffer using it is gone.
    final class Owner: @unchecked Sendable {
        let base: UnsafeRawPointer?
        let array: [UInt8]?
        let release: (@Sendable () -> Void)?

        init(array: [UInt8]) {
            self.array = array
            base = nil
            release = nil
        }

        init(base: UnsafeRawPointer, release: @escaping @Sendable () -> Void) {
            self.base = base
            array = nil
            self.release = release
        }

        deinit { release?() }
    }

    let owner: Owner
    let range: Range<Int>

    public init(_ bytes: [UInt8]) {
        owner = Owner(array: bytes)
        range = 0..<bytes.count
    }

    /// `count` bytes at `base`, handed back by `release` once no buffer uses them.
    init(base: UnsafeRawPointer, count: Int, release: @escaping @Sendable () -> Void) {
        owner = Owner(base: base, release: release)
        range = 0..<count
    }

    private init(owner: Owner, range: Range<Int>) {
        self.owner = owner
        self.range = range
    }

    public var count: Int { range.count }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        if let array = owner.array {
            return try array.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
        return try withExtendedLifetime(owner) {
            try body(UnsafeRawBufferPointer(start: owner.base! + range.lowerBound, count: range.count))
        }
    }

    /// The bytes as an array: the array itself when the buffer is one whole array.
    public var bytes: [UInt8] {
        if let array = owner.array, range == 0..<array.count { return array }
        return withUnsafeBytes { Array($0) }
    }

    /// `part` of these bytes (offsets from this buffer's start), sharing their memory.
    public func slice(_ part: Range<Int>) -> StorageBuffer {
        precondition(part.lowerBound >= 0 && part.upperBound <= count, "a slice inside the buffer")
        return StorageBuffer(owner: owner, range: (range.lowerBound + part.lowerBound)..<(range.lowerBound + part.upperBound))
    }
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

    func write(_ bytes: [UInt8]) async throws {
        self.bytes.append(contentsOf: bytes)
    }

    func commit() async throws {
        try await storage.put(key, bytes)
    }
}

extension StorageUpload {
    public func write(contentsOf bytes: some UploadBytes) async throws {
        try await write(bytes.withUploadBytes { Array($0) })
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
    public func prefetch(_ key: String, ranges: [Range<Int>]) {}

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        try StorageKey.check(key)
        return BufferedUpload(storage: self, key: key)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int { 0 }

    public func delete(_ keys: [String]) async throws {
        for key in keys { try await delete(key) }
    }

    /// `range` of the file's bytes as an array.
    public func get(_ key: String, range: Range<Int>) async throws -> [UInt8] {
        try await read(key, range: range).bytes
    }

    /// Every file under `prefix`, fetching page by page. `stopsWhenCancelled`: a cancelled
    /// task's listing ends between pages (with `CancellationError`) instead of after them all.
    public func listAll(prefix: String, pageSize: Int = 1000, stopsWhenCancelled: Bool = false) async throws -> [StorageItem] {
        var items: [StorageItem] = []
        var after: String?
        while true {
            if stopsWhenCancelled { try Task.checkCancellation() }
            let page = try await list(prefix: prefix, after: after, limit: pageSize)
            items += page
            guard page.count == pageSize, let last = page.last else { return items }
            after = last.key
        }
    }
}

/// What can go wrong in storage, in words that say where and what to do, and of which kind
/// (`category`): only a transient failure is worth trying again.
public enum StorageError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    /// A file shorter than the range read from it: damage.
    case outOfRange(String)
    case invalidKey(String)
    case noSpace(String)
    case quotaExceeded(String)
    case permissionDenied(String)
    case readOnly(String)
    /// A conditional write whose condition did not hold (the file changed meanwhile).
    case preconditionFailed(String)
    /// A failure that may pass: a timeout, a connection reset, a server that answered 503.
    case transient(String, String)
    /// Bytes that are there but wrong.
    case damaged(String, String)
    /// Anything else, permanent.
    case io(String, String)

    public enum Category: String, Sendable, CaseIterable {
        case transient, notFound, preconditionFailed, noSpace, quotaExceeded, permission, damaged, invalid, failed
    }

    public var category: Category {
        switch self {
        case .notFound: return .notFound
        case .outOfRange, .damaged: return .damaged
        case .invalidKey: return .invalid
        case .noSpace: return .noSpace
        case .quotaExceeded: return .quotaExceeded
        case .permissionDenied, .readOnly: return .permission
        case .preconditionFailed: return .preconditionFailed
        case .transient: return .transient
        case .io: return .failed
        }
    }

    public var isTransient: Bool { category == .transient }

    /// A file that is there but whose bytes are wrong: damage, not a failure of the storage.
    public var isDamage: Bool { category == .damaged }

    public var description: String {
        switch self {
        case .notFound(let key): return "\(key) does not exist"
        case .outOfRange(let key): return "\(key) is shorter than the range read from it: it is damaged"
        case .invalidKey(let key): return "'\(key)' is not a valid storage key"
        case .noSpace(let path): return "no space left on the device holding \(path); nothing was lost, free some space and run again"
        case .quotaExceeded(let path): return "quota exceeded at \(path); nothing was lost, free some space or raise the quota and run again"
        case .permissionDenied(let path): return "permission denied: \(path)"
        case .readOnly(let path): return "\(path) is on a read-only file system"
        case .preconditionFailed(let key): return "\(key) changed while it was being written: another process writes there"
        case .transient(let place, let reason): return "\(place): \(reason) (a failure that may pass: run again later)"
        case .damaged(let place, let reason): return "\(place) is damaged: \(reason)"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}
