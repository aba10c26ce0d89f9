import Foundation

internal import CLinux
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Carries out a backup plan: reads new and changed files, stores their content, builds the
/// trees bottom-up and commits the snapshot.
public struct BackupRunner {
    public let repository: Repository
    let chunker: Chunker
    public private(set) var statistics = Snapshot.Statistics()
    public private(set) var problems: [Problem] = []
    /// Content already stored in this run, by (device, inode): hard links are read once.
    private var linked: [Pair: (content: [Extent], hash: ObjectID?, size: UInt64)] = [:]
    private let followSymlinks: Bool
    private let shouldStop: @Sendable () -> Bool
    /// Told about each file started and each piece read, for progress displays.
    public var progress: ProgressSink?
    /// Set once a stop was requested: files not read by then are left out of the snapshot.
    public private(set) var wasInterrupted = false

    struct Pair: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    public init(repository: Repository, followSymlinks: Bool, shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.repository = repository
        self.chunker = Chunker(key: repository.chunkerKey)
        self.followSymlinks = followSymlinks
        self.shouldStop = shouldStop
    }

    /// Stores everything under `root` and returns the id of its tree.
    public mutating func store(_ directory: ScannedDirectory) async throws -> ObjectID {
        var entries: [TreeEntry] = []
        for node in directory.children {
            switch node {
            case .directory(let inner):
                var entry = inner.entry
                entry.subtree = try await store(inner)
                statistics.directories += 1
                entries.append(entry)
            case .file(let file):
                if let entry = try await store(file) { entries.append(entry) }
            case .special(let entry):
                statistics.otherEntries += 1
                entries.append(entry)
            }
        }
        let stored = try await repository.store(Tree(entries: entries))
        count(stored)
        return stored.id
    }

    private mutating func count(_ stored: Repository.Stored) {
        if stored.isNew {
            statistics.newObjects += 1
            statistics.bytesStored += UInt64(stored.storedSize)
        }
    }

    private mutating func store(_ file: ScannedFile) async throws -> TreeEntry? {
        var entry = file.entry
        statistics.files += 1
        statistics.bytes += entry.size
        switch file.change {
        case .unchanged:
            statistics.unchangedFiles += 1
            return entry
        case .new, .changed:
            if wasInterrupted || shouldStop() {
                wasInterrupted = true
                statistics.files -= 1
                statistics.bytes -= entry.size
                return nil
            }
            if file.change == .new { statistics.newFiles += 1 } else { statistics.changedFiles += 1 }
        }
        let pair = Pair(device: entry.device, inode: entry.inode)
        if entry.links > 1, let known = linked[pair] {
            entry.content = known.content
            entry.contentHash = known.hash
            entry.size = known.size
            return entry
        }
        let flags = O_RDONLY | O_CLOEXEC | cairn_o_noatime() | (followSymlinks ? 0 : O_NOFOLLOW)
        var descriptor = file.path.withCString { open($0, flags) }
        if descriptor < 0 && errno == EPERM {
            descriptor = file.path.withCString { open($0, flags & ~cairn_o_noatime()) }
        }
        guard descriptor >= 0 else {
            let code = errno
            if code != ENOENT {
                problems.append(Problem(path: file.path, message: "cannot be read: \(String(cString: strerror(code)))"))
            } else {
                problems.append(Problem(path: file.path, message: "vanished before it could be read"))
            }
            statistics.problems += 1
            return nil
        }
        defer { close(descriptor) }
        progress?.start(file.path, size: entry.size)
        defer { progress?.finish(file.path) }
        do {
            let (content, hash, size) = try await readContent(descriptor, path: file.path)
            entry.content = content
            entry.contentHash = hash
            var after = stat()
            if fstat(descriptor, &after) == 0,
                UInt64(after.st_size) != entry.size || Timestamp(after.st_mtim) != entry.mtime || size != entry.size
            {
                problems.append(Problem(path: file.path, message: "changed while it was read; stored as read, and read again next time"))
                statistics.problems += 1
                entry.size = size
            }
            if entry.links > 1 { linked[pair] = (content, hash, entry.size) }
            FaultInjection.reach("file-stored")
            return entry
        } catch let failure as FileMetadata.Failure {
            problems.append(Problem(path: file.path, message: "cannot be read: \(String(cString: strerror(failure.code)))"))
            statistics.problems += 1
            return nil
        }
    }

    /// Reads a file in content-defined chunks, storing each; memory stays within one buffer of
    /// two maximum chunks whatever the file's size.
    private mutating func readContent(_ descriptor: Int32, path: FilePath) async throws -> ([Extent], ObjectID, UInt64) {
        let hasher = repository.contentHasher()
        var extents: [Extent] = []
        let capacity = 2 * Chunker.maximumSize
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        var total: UInt64 = 0
        var atEnd = false
        while !atEnd || filled > 0 {
            while !atEnd && filled < capacity {
                let got = read(descriptor, buffer.baseAddress! + filled, capacity - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw FileMetadata.Failure(path: path, operation: "read", code: errno)
                }
                if got == 0 { atEnd = true }
                filled += got
            }
            var start = 0
            let data = UnsafeBufferPointer(rebasing: buffer[0..<filled])
            while filled - start >= Chunker.maximumSize || (atEnd && start < filled) {
                let length = chunker.cut(data, from: start)
                let chunk = Array(data[start..<start + length])
                hasher.update(chunk)
                let stored = try await repository.store(.blob, chunk)
                count(stored)
                if !stored.isNew { statistics.bytesDeduplicated += UInt64(length) }
                progress?.read(UInt64(length))
                extents.append(Extent(object: stored.id, offset: 0, length: length))
                total += UInt64(length)
                start += length
            }
            if start > 0 {
                (buffer.baseAddress! as UnsafeMutablePointer<UInt8>).update(from: buffer.baseAddress! + start, count: filled - start)
                filled -= start
            }
        }
        statistics.bytesRead += total
        return (extents, ObjectID(hasher.finish()), total)
    }
}
