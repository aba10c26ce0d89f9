internal import CArchive
internal import CLinux
import Foundation

/// One seed-load session's pax tar stream, written through libarchive and cut into volume
/// files of at most `volumeSize` bytes (libarchive writes no multi-volume archives; the volumes
/// one after another are the archive: `cat NAME.tar.* | bsdtar -tf -`). libarchive's blocking is
/// off, so each header and each piece of data reaches the volumes as it is written, and the
/// stream offset after a member's header is where its data lies.
final class VolumeWriter {
    let folder: String
    let baseName: String
    let volumeSize: Int
    private(set) var volumes: [SeedManifest.Volume] = []
    private(set) var offset = 0
    private var descriptor: Int32 = -1
    private var written = 0
    private var hasher = SHA256Stream()
    private var archive: OpaquePointer?
    /// The first failure of a volume write (a full disk), which libarchive reports as fatal.
    private(set) var failure: (any Error)?

    init(folder: String, baseName: String, volumeSize: Int) throws {
        self.folder = folder
        self.baseName = baseName
        self.volumeSize = volumeSize
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
        if descriptor >= 0 { close(descriptor) }
    }

    static let flushStep = 32 << 20

    static func volumeName(_ base: String, _ number: Int) -> String { "\(base).tar.\(String(format: "%03d", number))" }

    private func check(_ status: Int32, _ what: String) throws {
        guard status < ARCHIVE_WARN else { return }
        if let failure { throw failure }
        let reason = archive.flatMap { archive_error_string($0) }.map { String(cString: $0) } ?? "unknown error"
        throw SeedFailure("\(what): \(reason)")
    }

    /// Bytes from libarchive into the volumes.
    private func sink(_ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            do {
                if descriptor < 0 || written == volumeSize { try nextVolume() }
                let piece = min(count - done, volumeSize - written)
                let result = Glibc.write(descriptor, buffer + done, piece)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw LocalFolderStorage.failure(volumePath(volumes.count - 1))
                }
                hasher.update(UnsafeRawBufferPointer(start: buffer + done, count: result))
                done += result
                // The disk writes as the volume grows, not all at its end's fsync.
                if (written + result) / Self.flushStep != written / Self.flushStep {
                    _ = cairn_start_writeback(descriptor, Int64(written + result - Self.flushStep), Int64(Self.flushStep))
                }
                written += result
                offset += result
                volumes[volumes.count - 1].size = written
            } catch {
                failure = failure ?? error
                return -1
            }
        }
        return count
    }

    func volumePath(_ index: Int) -> String { folder + "/" + Self.volumeName(baseName, index) }

    private func nextVolume() throws {
        if descriptor >= 0 { try closeVolume() }
        let path = volumePath(volumes.count)
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LocalFolderStorage.failure(path) }
        volumes.append(SeedManifest.Volume(name: Self.volumeName(baseName, volumes.count), size: 0, sha256: ""))
        written = 0
        hasher = SHA256Stream()
    }

    private func closeVolume() throws {
        guard fsync(descriptor) == 0 else { throw LocalFolderStorage.failure(volumePath(volumes.count - 1)) }
        close(descriptor)
        descriptor = -1
        volumes[volumes.count - 1].sha256 = hasher.finish().map { String(format: "%02x", $0) }.joined()
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
        if let failure { throw failure }
        if descriptor >= 0 { try closeVolume() }
        return volumes
    }
}

public struct SeedFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
