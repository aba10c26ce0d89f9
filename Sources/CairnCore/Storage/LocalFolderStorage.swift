import Foundation
import Synchronization
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// The built-in destination: a folder on a local or mounted file system.
///
/// Writes are crash-safe: a file is written under a temporary name in its folder, flushed with
/// fsync, renamed into place (or hard-linked, for `putIfAbsent`), and the folder is flushed too.
public struct LocalFolderStorage: StorageBackend {
    public let root: String
    public var location: String { root }

    /// A disk gains from a few reads at once (the page cache's read-ahead, a queue for the
    /// device); a system call costs about what reading 32 KiB from the cache does. Its writes
    /// are system calls, which no cancellation stops.
    public var capabilities: StorageCapabilities {
        StorageCapabilities(concurrentRequests: 8, atomicPutIfAbsent: true, rangedReadOverhead: 32 << 10, writesRunToCompletion: true)
    }

    static let temporaryPrefix = ".tmp-"

    /// Packs open for reading: a restore reads thousands of objects from a few packs.
    private let openFiles: OpenFiles
    /// False once the file system has refused a read past the page cache.
    private let directReads = DirectReads()

    /// Whether descriptors are kept open between reads: only where a key's file is never
    /// replaced (a repository's packs). A cairn server's storage replaces objects under their
    /// keys (locks, clients' puts), and opens each file anew for every read.
    let keepsFilesOpen: Bool

    public init(root: String, keepsFilesOpen: Bool = true) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        self.keepsFilesOpen = keepsFilesOpen
        openFiles = OpenFiles(keeping: keepsFilesOpen)
    }

    func path(_ key: String) throws -> String {
        try StorageKey.check(key)
        return root + "/" + key
    }

    static func failure(_ path: String, _ code: Int32 = errno) -> StorageError {
        switch code {
        case ENOENT: return .notFound(path)
        case ENOSPC: return .noSpace(path)
        case EDQUOT: return .quotaExceeded(path)
        // A network file system's server that went away or is slow, a device that is busy.
        case EINTR, EAGAIN, ETIMEDOUT, ESTALE, ECONNRESET, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, EBUSY:
            return .transient(path, String(cString: strerror(code)))
        case EACCES, EPERM: return .permissionDenied(path)
        case EROFS: return .readOnly(path)
        default: return .io(path, String(cString: strerror(code)))
        }
    }

    public func get(_ key: String) async throws -> [UInt8] {
        let path = try path(key)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw errno == ENOENT ? StorageError.notFound(key) : Self.failure(path) }
        defer { close(descriptor) }
        var info = Glibc.stat()
        guard fstat(descriptor, &info) == 0 else { throw Self.failure(path) }
        return try Self.read(descriptor, from: 0, count: Int(info.st_size), path: path, key: key)
    }

    /// Asks the kernel to read `ranges` of the file into the page cache in the background
    /// (`POSIX_FADV_WILLNEED`): packs are written past the cache, and a backup then reads the
    /// previous snapshot's trees, small ranges all over them, one at a time from the disk.
    public func prefetch(_ key: String, ranges: [Range<Int>]) {
        guard let path = try? path(key) else { return }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        for range in ranges { _ = posix_fadvise(descriptor, off_t(range.lowerBound), off_t(range.count), POSIX_FADV_WILLNEED) }
    }

    /// Ranges at least this large are read past the page cache (O_DIRECT) into aligned
    /// memory. Packs are written that way, so they are not in the cache: a read through it
    /// copies every byte once more, and on these machines that copy was a fifth of a large
    /// file's restore. Smaller ranges (small files' objects) keep the cache's read-ahead.
    static let directReadMinimum = 128 << 10

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        let path = try path(key)
        if range.count >= Self.directReadMinimum, directReads.supported.load(ordering: .relaxed) {
            do {
                let descriptor = try openFiles.acquire(path + Self.directSuffix) {
                    let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | cairn_o_direct())
                    guard descriptor >= 0 else {
                        if errno == EINVAL { throw DirectReads.Refused() }
                        throw errno == ENOENT ? StorageError.notFound(key) : Self.failure(path)
                    }
                    return descriptor
                }
                defer { openFiles.release(path + Self.directSuffix, descriptor) }
                if let buffer = try await Self.readDirect(descriptor, range: range, path: path, key: key) { return buffer }
            } catch is DirectReads.Refused {}
            directReads.supported.store(false, ordering: .relaxed)
        }
        let descriptor = try openFiles.acquire(path) {
            let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw errno == ENOENT ? StorageError.notFound(key) : Self.failure(path) }
            return descriptor
        }
        defer { openFiles.release(path, descriptor) }
        return StorageBuffer(try Self.read(descriptor, from: range.lowerBound, count: range.count, path: path, key: key))
    }

    /// Open files read past the page cache are kept apart from the others under this suffix.
    private static let directSuffix = "\0direct"

    /// Reads the aligned span around `range` into aligned memory, which the buffer returned
    /// holds; nil when the file system refuses direct reads.
    private static func readDirect(_ descriptor: Int32, range: Range<Int>, path: String, key: String) async throws -> StorageBuffer? {
        let alignment = AlignedMemory.alignment
        let start = range.lowerBound / alignment * alignment
        let end = (range.upperBound + alignment - 1) / alignment * alignment
        guard let (memory, size) = AlignedMemory.allocate(end - start) else { throw StorageError.io(path, "out of memory") }
        let buffer = SendablePointer(memory)
        let release: @Sendable () -> Void = { AlignedMemory.release(buffer.pointer, size: size) }
        // The span's end may lie past the file's: a short read there is the file's end.
        let read: Bool
        do {
            read = try await BlockingIO.run { () throws -> Bool in
                var done = 0
                while start + done < range.upperBound {
                    let got = pread(descriptor, buffer.pointer + done, end - start - done, off_t(start + done))
                    if got < 0 {
                        if errno == EINTR { continue }
                        if errno == EINVAL && done == 0 { return false }
                        throw failure(path)
                    }
                    if got == 0 { throw StorageError.outOfRange(key) }
                    done += got
                }
                return true
            }
        } catch {
            release()
            throw error
        }
        guard read else {
            release()
            return nil
        }
        return StorageBuffer(base: memory + (range.lowerBound - start), count: range.count, release: release)
    }

    private static func read(_ descriptor: Int32, from offset: Int, count: Int, path: String, key: String) throws -> [UInt8] {
        try BufferPool.shared.make(count: count) { bytes in
            var done = 0
            while done < count {
                let got = pread(descriptor, bytes.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    throw failure(path)
                }
                if got == 0 { throw StorageError.outOfRange(key) }
                done += got
            }
            return count
        }
    }

    // Writes wait for the device (fsync), so they run on BlockingIO's threads.
    public func put(_ key: String, _ data: [UInt8]) async throws {
        let path = try path(key)
        try await BlockingIO.run { [self] in
            let temporary = try writeTemporary(for: path, data)
            guard rename(temporary, path) == 0 else {
                let code = errno
                unlink(temporary)
                throw Self.failure(path, code)
            }
            try Self.syncDirectory(Self.parent(of: path))
        }
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        let path = try path(key)
        return try await BlockingIO.run { [self] in
            if access(path, F_OK) == 0 { return false }
            let temporary = try writeTemporary(for: path, data)
            defer { unlink(temporary) }
            guard link(temporary, path) == 0 else {
                if errno == EEXIST { return false }
                throw Self.failure(path)
            }
            try Self.syncDirectory(Self.parent(of: path))
            return true
        }
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        let path = try path(key)
        var info = Glibc.stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw Self.failure(path)
        }
        return StorageItem(key: key, size: Int(info.st_size))
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        let directory = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
        var items: [StorageItem] = []
        try walk(directory) { key, size in
            if key.hasPrefix(prefix), after.map({ key > $0 }) ?? true { items.append(StorageItem(key: key, size: size)) }
        }
        items.sort { $0.key < $1.key }
        return Array(items.prefix(limit))
    }

    private func walk(_ directory: String, _ visit: (String, Int) -> Void) throws {
        let path = directory.isEmpty ? root : root + "/" + directory
        guard let stream = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw Self.failure(path)
        }
        defer { closedir(stream) }
        // A listing cut short by a failed read is an error: packs not listed would look gone.
        while let entry = try Self.next(stream, path) {
            let name = String(decoding: directoryEntryName(entry), as: UTF8.self)
            if name == "." || name == ".." || name.hasPrefix(Self.temporaryPrefix) { continue }
            let key = directory.isEmpty ? name : directory + "/" + name
            var info = Glibc.stat()
            // Gone since it was listed: left out; any other failure leaves the listing unknown.
            guard lstat(root + "/" + key, &info) == 0 else {
                if errno == ENOENT { continue }
                throw Self.failure(root + "/" + key)
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                try walk(key, visit)
            } else if (info.st_mode & S_IFMT) == S_IFREG {
                visit(key, Int(info.st_size))
            }
        }
    }

    /// The next entry of a listing, nil at its end; a read that fails is an error.
    private static func next(_ stream: OpaquePointer, _ path: String) throws -> UnsafeMutablePointer<dirent>? {
        switch nextDirectoryEntry(stream) {
        case .success(let entry): return entry
        case .failure(let error): throw failure(path, error.code)
        }
    }

    public func delete(_ key: String) async throws {
        let path = try path(key)
        guard unlink(path) == 0 || errno == ENOENT else { throw Self.failure(path) }
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        let path = try path(key)
        let directory = Self.parent(of: path)
        try makeDirectories(directory)
        return try LocalFolderUpload(path: path, temporary: try temporaryName(in: directory))
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int {
        try await BlockingIO.run { [self] in try removeTemporaries(in: prefix.isEmpty ? root : root + "/" + prefix) }
    }

    private func removeTemporaries(in path: String) throws -> Int {
        guard let stream = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return 0 }
            throw Self.failure(path)
        }
        defer { closedir(stream) }
        var removed = 0
        while let entry = try Self.next(stream, path) {
            let name = String(decoding: directoryEntryName(entry), as: UTF8.self)
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if name.hasPrefix(Self.temporaryPrefix) {
                guard unlink(child) == 0 || errno == ENOENT else { throw Self.failure(child) }
                removed += 1
            } else if entry.pointee.d_type == DT_DIR {
                removed += try removeTemporaries(in: child)
            }
        }
        return removed
    }

    // MARK: Writing safely

    private func writeTemporary(for path: String, _ data: [UInt8]) throws -> String {
        let directory = Self.parent(of: path)
        try makeDirectories(directory)
        let temporary = try temporaryName(in: directory)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure(directory) }
        var succeeded = false
        defer {
            if !succeeded { unlink(temporary) }
        }
        defer { close(descriptor) }
        try Self.write(data, to: descriptor, at: directory)
        guard fsync(descriptor) == 0 else { throw Self.failure(directory) }
        succeeded = true
        return temporary
    }

    private func temporaryName(in directory: String) throws -> String {
        let suffix = (try? SecureRandom.bytes(8))?.map { String(format: "%02x", $0) }.joined() ?? String(getpid())
        return directory + "/" + Self.temporaryPrefix + suffix
    }

    /// Files at least this large (packs) are written past the page cache: they are flushed at
    /// once anyway, and copying them into the cache costs more CPU than the rest of the write.
    static let directWriteMinimum = 1 << 20

    /// Writes all of `data`: its 4 KiB-aligned part with O_DIRECT when it is large and the file
    /// system allows it, the rest (and everything, where it does not) through the page cache.
    static func write(_ data: [UInt8], to descriptor: Int32, at place: String) throws {
        do {
            var output = try AlignedFileWriter(descriptor: descriptor, size: data.count, direct: data.count >= directWriteMinimum, sparse: false)
            try data.withUnsafeBytes { try output.write($0) }
            _ = try output.finish()
        } catch let error as AlignedFileWriter.Failure {
            throw failure(place, error.code)
        }
    }

    /// Creates `directory` and its missing parents below the root, flushing each new entry.
    private func makeDirectories(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue { return }
        let parent = Self.parent(of: directory)
        if parent != directory, parent.count >= root.count { try makeDirectories(parent) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw Self.failure(directory) }
        try Self.syncDirectory(parent)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(path) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 || errno == EINVAL else { throw failure(path) }
    }
}

/// A pack written to a temporary file in its folder while it fills, past the page cache (as
/// `put` writes large files), then flushed and renamed into place: a pack is never held whole
/// in memory. Writing waits for the device only when it falls a whole buffer (1 MiB) behind.
final class LocalFolderUpload: StorageUpload, @unchecked Sendable {
    private let path: String
    private let directory: String
    private let temporary: String
    private let descriptor: Int32
    private var writer: AlignedFileWriter
    private var done = false
    /// What an upload usually holds (a pack: about 8 MiB), for the size of its write buffer.
    static let expectedSize = 8 << 20

    init(path: String, temporary: String) throws {
        self.path = path
        self.temporary = temporary
        directory = LocalFolderStorage.parent(of: path)
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LocalFolderStorage.failure(directory) }
        do {
            writer = try AlignedFileWriter(descriptor: descriptor, size: Self.expectedSize, direct: true, sparse: false)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw LocalFolderStorage.failure(directory, error.code)
        }
    }

    deinit {
        guard !done else { return }
        writer.abandon()
        close(descriptor)
        unlink(temporary)
    }

    /// A failed write or commit may have written part of its bytes (a buffer written in the
    /// background fails on the next write): never transient, so it is not tried again.
    static func failure(_ path: String, _ code: Int32 = errno) -> StorageError {
        permanent(LocalFolderStorage.failure(path, code))
    }

    static func permanent(_ error: StorageError) -> StorageError {
        guard case .transient(let place, let reason) = error else { return error }
        return .io(place, reason)
    }

    func write(_ bytes: [UInt8]) async throws {
        try await write(contentsOf: bytes)
    }

    func write(contentsOf bytes: some UploadBytes) async throws {
        precondition(!done, "an upload is written before it is committed")
        do {
            try await writer.write(bytes)
        } catch let error as AlignedFileWriter.Failure {
            throw Self.failure(directory, error.code)
        }
    }

    func commit() async throws {
        do {
            try await commitNow()
        } catch let error as StorageError {
            throw Self.permanent(error)
        }
    }

    private func commitNow() async throws {
        await writer.settle()
        try await BlockingIO.run { [self] in
            do {
                _ = try writer.finish()
            } catch let error as AlignedFileWriter.Failure {
                throw Self.failure(directory, error.code)
            }
            guard fsync(descriptor) == 0 else { throw Self.failure(directory) }
            guard rename(temporary, path) == 0 else { throw Self.failure(path) }
            done = true
            close(descriptor)
            try LocalFolderStorage.syncDirectory(directory)
        }
    }
}

/// A buffer handed to a thread that fills it while its owner waits.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer

    init(_ pointer: UnsafeMutableRawPointer) {
        self.pointer = pointer
    }
}

/// Whether the file system allows reads past the page cache (tmpfs did not before Linux 6.6).
final class DirectReads: Sendable {
    let supported = Atomic(true)

    struct Refused: Error {}
}

/// Files kept open for reading, a few at a time. Stored files never change once written (a
/// pack is replaced by a new name, never rewritten), so a descriptor stays valid even after
/// the file is deleted; one in use is closed only when its last reader is done.
final class OpenFiles: Sendable {
    private struct Entry {
        var descriptor: Int32
        var readers: Int
        var lastUse: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock = 0
    }

    private let state = Mutex(State())
    static let limit = 8
    /// False: every acquire opens the file, and its release closes it.
    let keeping: Bool

    init(keeping: Bool = true) {
        self.keeping = keeping
    }

    deinit {
        state.withLock { state in
            for entry in state.entries.values { close(entry.descriptor) }
        }
    }

    /// The open descriptor of `path`, opened by `opening` when it is not; every acquire is
    /// followed by a release.
    func acquire(_ path: String, opening: () throws -> Int32) throws -> Int32 {
        if !keeping { return try opening() }
        if let descriptor = state.withLock({ state -> Int32? in
            guard var entry = state.entries[path] else { return nil }
            state.clock += 1
            entry.readers += 1
            entry.lastUse = state.clock
            state.entries[path] = entry
            return entry.descriptor
        }) {
            return descriptor
        }
        let descriptor = try opening()
        let (kept, unused): (Int32, [Int32]) = state.withLock { state in
            state.clock += 1
            if var existing = state.entries[path] {
                // Opened meanwhile by another reader.
                existing.readers += 1
                existing.lastUse = state.clock
                state.entries[path] = existing
                return (existing.descriptor, [descriptor])
            }
            state.entries[path] = Entry(descriptor: descriptor, readers: 1, lastUse: state.clock)
            var closing: [Int32] = []
            while state.entries.count > Self.limit,
                let oldest = state.entries.filter({ $0.value.readers == 0 }).min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                closing.append(oldest.value.descriptor)
                state.entries[oldest.key] = nil
            }
            return (descriptor, closing)
        }
        for descriptor in unused { close(descriptor) }
        return kept
    }

    func release(_ path: String, _ descriptor: Int32) {
        if !keeping {
            close(descriptor)
            return
        }
        state.withLock { state in
            state.entries[path]?.readers -= 1
        }
    }
}
