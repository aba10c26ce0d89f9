internal import CArchive
internal import CCairnKernels
internal import CLinux
import Dispatch
import Foundation
import Synchronization

/// One seed-load session's pax tar stream, written through libarchive and cut into volume
/// files of at most `volumeSize` bytes (libarchive writes no multi-volume archives; the volumes
/// one after another are the archive: `cat NAME.tar.* | bsdtar -tf -`). libarchive's blocking is
/// off, so each header and each piece of data reaches the volumes as it is written, and the
/// stream offset after a member's header is where its data lies.
///
/// The stream is gathered in aligned 4 MiB buffers; a full buffer goes to a writer thread that
/// hashes it into the volume's SHA-256 and writes it past the page cache (O_DIRECT, where the
/// file system allows it), while the caller fills the next. Measured on the bench corpus, the
/// page-cache copy and the hash in line cost seed-load 1.4 times a backup's time (docs/BENCHMARKS.md).
/// Used on one thread at a time (SeedFolder's archive queue).
final class VolumeWriter: @unchecked Sendable {
    static let bufferSize = 4 << 20
    /// Buffers that may wait for or be in the writer thread while the next fills.
    static let buffersInFlight = 2

    let folder: String
    let baseName: String
    let volumeSize: Int
    private(set) var volumes: [SeedManifest.Volume] = []
    private(set) var offset = 0
    /// The volume being written (its descriptors and hash belong to the writer thread).
    private var file: VolumeFile?
    /// Bytes of the current volume taken so far, and where the buffer starts in it.
    private var written = 0
    private var bufferStart = 0
    private var buffer: UnsafeMutableRawPointer
    private var filled = 0
    private var archive: OpaquePointer?
    private let queue = DispatchQueue(label: "cairn.seed.volumes")
    private let pool: VolumeBuffers
    /// What the writer thread reports.
    private let shared = Shared()
    /// The first failure of a volume write (a full disk), which libarchive reports as fatal.
    var failure: (any Error)? { shared.failure }

    private final class Shared: Sendable {
        private let failed = Mutex<(any Error)?>(nil)
        /// The SHA-256 of each closed volume.
        let hashes = Mutex<[Int: String]>([:])
        var failure: (any Error)? { failed.withLock { $0 } }
        func fail(_ error: any Error) { failed.withLock { $0 = $0 ?? error } }
    }

    init(folder: String, baseName: String, volumeSize: Int) throws {
        self.folder = folder
        self.baseName = baseName
        self.volumeSize = volumeSize
        pool = try VolumeBuffers(count: Self.buffersInFlight + 1, size: Self.bufferSize)
        buffer = pool.take()
        guard let archive = archive_write_new() else { throw SeedFailure("libarchive could not start an archive") }
        self.archive = archive
        archive_write_set_format_pax(archive)
        archive_write_set_bytes_per_block(archive, 0)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = archive_write_open2(archive, context, nil, { _, context, buffer, count in
            let writer = Unmanaged<VolumeWriter>.fromOpaque(context!).takeUnretainedValue()
            return writer.sink(buffer!, count)
        }, nil, nil)
        try check(status, "opening the volumes")
    }

    deinit {
        if let archive {
            // Never finished: no end-of-archive is written.
            archive_write_fail(archive)
            archive_write_free(archive)
        }
        queue.sync {}
        file?.close()
        pool.give(buffer)
    }

    static let flushStep = 32 << 20

    static func volumeName(_ base: String, _ number: Int) -> String { "\(base).tar.\(String(format: "%03d", number))" }

    private func check(_ status: Int32, _ what: String) throws {
        guard status < ARCHIVE_WARN else { return }
        if let failure { throw failure }
        let reason = archive.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "unknown error"
        throw SeedFailure("\(what): \(reason)")
    }

    /// Bytes from libarchive into the buffers.
    private func sink(_ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            do {
                if failure != nil { return -1 }
                if file == nil || written == volumeSize { try nextVolume() }
                let piece = min(count - done, Self.bufferSize - filled, volumeSize - written)
                (buffer + filled).copyMemory(from: bytes + done, byteCount: piece)
                filled += piece
                written += piece
                offset += piece
                done += piece
                volumes[volumes.count - 1].size = written
                if filled == Self.bufferSize { submit(closing: false) }
            } catch {
                shared.fail(error)
                return -1
            }
        }
        return count
    }

    /// Hands the buffer to the writer thread (with the volume's end when `closing`) and takes
    /// a free one, waiting while the writer is behind.
    private func submit(closing: Bool) {
        guard let file else { return }
        let full = UInt(bitPattern: buffer), start = bufferStart, count = filled
        let pool = self.pool, shared = self.shared
        let index = volumes.count - 1
        queue.async {
            let bytes = UnsafeMutableRawPointer(bitPattern: full)!
            if shared.failure == nil {
                do {
                    try file.write(bytes, count: count, at: start)
                    if closing {
                        let hash = try file.finish()
                        shared.hashes.withLock { $0[index] = hash }
                    }
                } catch {
                    shared.fail(error)
                }
            }
            if closing { file.close() }
            pool.give(bytes)
        }
        buffer = pool.take()
        bufferStart += count
        filled = 0
        if closing { self.file = nil }
    }

    func volumePath(_ index: Int) -> String { folder + "/" + Self.volumeName(baseName, index) }

    private func nextVolume() throws {
        if file != nil { submit(closing: true) }
        let path = volumePath(volumes.count)
        file = try VolumeFile(path: path)
        volumes.append(SeedManifest.Volume(name: Self.volumeName(baseName, volumes.count), size: 0, sha256: ""))
        written = 0
        bufferStart = 0
    }

    /// Makes every byte taken so far readable from the volumes (the buffer being filled is
    /// written through the page cache; it is written again, whole, once full).
    func flush() throws {
        if let file, filled > 0 {
            let part = UInt(bitPattern: buffer), start = bufferStart, count = filled, shared = self.shared
            queue.sync {
                guard shared.failure == nil else { return }
                do {
                    try file.writePart(UnsafeMutableRawPointer(bitPattern: part)!, count: count, at: start)
                } catch {
                    shared.fail(error)
                }
            }
        } else {
            queue.sync {}
        }
        if let failure { throw failure }
    }

    /// Adds a member of `size` bytes whose data `fill` writes (through `write`); returns where
    /// its data starts in the stream.
    func add(key: String, size: Int, fill: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Int {
        guard let archive, failure == nil else { throw failure ?? SeedFailure("the volumes are closed") }
        guard let entry = archive_entry_new() else { throw SeedFailure("libarchive could not make an entry") }
        defer { archive_entry_free(entry) }
        archive_entry_copy_pathname(entry, key)
        archive_entry_set_filetype(entry, 0o100000)
        archive_entry_set_perm(entry, 0o600)
        archive_entry_set_mtime(entry, time(nil), 0)
        archive_entry_set_size(entry, la_int64_t(size))
        try check(archive_write_header(archive, entry), "writing \(key) into the volumes")
        let start = offset
        var total = 0
        try fill { piece in
            var done = 0
            while done < piece.count {
                let count = archive_write_data(archive, piece.baseAddress! + done, piece.count - done)
                if count <= 0 { try check(Int32(ARCHIVE_FATAL), "writing \(key) into the volumes") }
                done += count
            }
            total += piece.count
        }
        guard total == size else { throw SeedFailure("\(key): \(total) bytes written, not \(size)") }
        try check(archive_write_finish_entry(archive), "writing \(key) into the volumes")
        return start
    }

    /// Ends the archive and closes its last volume; the volumes with sizes and SHA-256.
    func finish() throws -> [SeedManifest.Volume] {
        if let archive {
            try check(archive_write_close(archive), "finishing the volumes")
            archive_write_free(archive)
            self.archive = nil
        }
        if file != nil { submit(closing: true) }
        queue.sync {}
        if let failure { throw failure }
        let hashes = shared.hashes.withLock { $0 }
        for index in volumes.indices {
            guard let hash = hashes[index] else { throw SeedFailure("the volume \(volumePath(index)) was not finished") }
            volumes[index].sha256 = hash
        }
        return volumes
    }
}

/// One volume file, used on the writer thread: its bytes are hashed as they are written, past
/// the page cache where the buffer, the offset and the file system allow it.
private final class VolumeFile: @unchecked Sendable {
    let path: String
    private var direct: Int32 = -1
    private var buffered: Int32
    private let hasher = SHA256Stream()
    /// The volume's bytes hashed so far (a part written by `flush` is not hashed again).
    private var hashed = 0
    private var writebackStarted = 0

    init(path: String) throws {
        self.path = path
        buffered = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard buffered >= 0 else { throw LocalFolderStorage.failure(path) }
        // The same file (not whatever the path names by now), for writes past the page cache.
        direct = open("/proc/self/fd/\(buffered)", O_WRONLY | O_CLOEXEC | cairn_o_direct())
    }

    func close() {
        if direct >= 0 { Glibc.close(direct) }
        if buffered >= 0 { Glibc.close(buffered) }
        direct = -1
        buffered = -1
    }

    private func hash(_ bytes: UnsafeMutableRawPointer, count: Int, at start: Int) {
        guard start + count > hashed else { return }
        let from = hashed - start
        hasher.update(UnsafeRawBufferPointer(start: bytes + from, count: count - from))
        hashed = start + count
    }

    /// Writes a buffer of the volume starting at `start`: the aligned part direct, a tail
    /// through the page cache.
    func write(_ bytes: UnsafeMutableRawPointer, count: Int, at start: Int) throws {
        hash(bytes, count: count, at: start)
        let alignment = AlignedMemory.alignment
        var done = 0
        if direct >= 0, start % alignment == 0 {
            let aligned = count / alignment * alignment
            while done < aligned {
                let result = pwrite(direct, bytes + done, aligned - done, off_t(start + done))
                if result < 0 {
                    if errno == EINTR { continue }
                    // No direct writes here after all: the page cache takes the rest.
                    if errno == EINVAL {
                        Glibc.close(direct)
                        direct = -1
                        break
                    }
                    throw LocalFolderStorage.failure(path)
                }
                done += result
            }
        }
        try writePart(bytes + done, count: count - done, at: start + done, hashing: false)
    }

    /// Writes through the page cache (starting the disk's writeback as the volume grows).
    func writePart(_ bytes: UnsafeMutableRawPointer, count: Int, at start: Int, hashing: Bool = true) throws {
        if hashing { hash(bytes, count: count, at: start) }
        var done = 0
        while done < count {
            let result = pwrite(buffered, bytes + done, count - done, off_t(start + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw LocalFolderStorage.failure(path)
            }
            done += result
        }
        let end = start + count
        if end - writebackStarted >= VolumeWriter.flushStep {
            _ = cairn_start_writeback(buffered, Int64(writebackStarted), Int64(end - writebackStarted))
            writebackStarted = end
        }
    }

    /// Makes the volume durable; its SHA-256.
    func finish() throws -> String {
        guard fsync(buffered) == 0 else { throw LocalFolderStorage.failure(path) }
        return hasher.finish().map { String(format: "%02x", $0) }.joined()
    }
}

/// A few aligned buffers handed between the caller and the writer thread.
private final class VolumeBuffers: @unchecked Sendable {
    private let free: Mutex<[UInt]>
    private let available: DispatchSemaphore
    private let all: [UInt]
    let size: Int

    init(count: Int, size: Int) throws {
        var all: [UInt] = []
        for _ in 0..<count {
            var memory: UnsafeMutableRawPointer?
            guard posix_memalign(&memory, AlignedMemory.alignment, size) == 0, let memory else {
                for address in all { Glibc.free(UnsafeMutableRawPointer(bitPattern: address)) }
                throw SeedFailure("no memory for the volumes' buffers")
            }
            all.append(UInt(bitPattern: memory))
        }
        self.all = all
        self.size = size
        free = Mutex(all)
        available = DispatchSemaphore(value: count)
    }

    deinit {
        for address in all { Glibc.free(UnsafeMutableRawPointer(bitPattern: address)) }
    }

    func take() -> UnsafeMutableRawPointer {
        available.wait()
        return UnsafeMutableRawPointer(bitPattern: free.withLock { $0.removeLast() })!
    }

    func give(_ buffer: UnsafeMutableRawPointer) {
        free.withLock { $0.append(UInt(bitPattern: buffer)) }
        available.signal()
    }
}

public struct SeedFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
