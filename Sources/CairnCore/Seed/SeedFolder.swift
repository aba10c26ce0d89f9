import Foundation
import Synchronization

/// A seed-load folder as a repository's storage: what earlier sessions wrote is read from
/// their volumes (through the manifest's offsets), and what is written now goes into a new
/// session's volumes. Repository files never change once written, so the folder is append-only:
/// locks live in memory for the one process that writes, and nothing is deleted. Opened
/// `readOnly`, it is a repository to restore from (`--from DIR`) or to import.
public actor SeedFolder: StorageBackend {
    public nonisolated let folder: String
    public nonisolated var location: String { folder }
    public nonisolated var capabilities: StorageCapabilities {
        StorageCapabilities(concurrentRequests: 4, atomicPutIfAbsent: true, rangedReadOverhead: 32 << 10)
    }

    public private(set) var manifest: SeedManifest?
    let readOnly: Bool
    let setName: String
    let volumeSize: Int
    /// Where each file's data lies: its session and the pieces of that session's stream that
    /// hold it, in order.
    private var members: [String: (session: Int, pieces: [SeedManifest.Piece], size: Int)] = [:]
    /// This session's files under 1 MiB, also kept in memory (index files, snapshots, keys).
    private var small: [String: [UInt8]] = [:]
    private var locks: [String: [UInt8]] = [:]
    private var writer: VolumeWriter?
    private var newMembers: [SeedManifest.Member] = []
    /// Held while writing: one seed-load at a time in a folder.
    private var lockDescriptor: Int32 = -1
    /// Keys being written by `putIfAbsent` (it suspends while the volumes take them).
    private var reserved: Set<String> = []
    /// Set while `finish` closes the volumes.
    private var finishing = false

    deinit {
        if lockDescriptor >= 0 { close(lockDescriptor) }
    }

    /// Opens DIR: reads its manifest if there is one (its code is checked once the key is
    /// known, by `authenticate`).
    public init(folder: String, set: String, volumeSize: Int = 4 << 30 - 1, readOnly: Bool) throws {
        self.folder = folder
        self.setName = set
        self.volumeSize = volumeSize
        self.readOnly = readOnly
        let place = folder + "/" + SeedManifest.fileName
        if !readOnly {
            let lockPath = folder + "/.cairn-seed.lock"
            lockDescriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard lockDescriptor >= 0 else { throw LocalFolderStorage.failure(lockPath) }
            guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
                throw SeedFailure("another seed-load is writing into \(folder): wait for it to end")
            }
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: place), (attributes[.size] as? NSNumber)?.intValue ?? 0 > SeedManifest.largest {
            throw SeedFailure("the seed manifest \(place) is larger than any seed's (damaged?)")
        }
        if let data = FileManager.default.contents(atPath: place) {
            let manifest = try SeedManifest.decode(data, at: place)
            self.manifest = manifest
            if readOnly {
                // Every volume there and of its size (their SHA-256 is checked by an import,
                // which reads them all anyway).
                for volume in manifest.sessions.flatMap(\.volumes) {
                    let path = folder + "/" + volume.name
                    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
                        throw SeedFailure("the volume \(path) is missing")
                    }
                    let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
                    guard size == volume.size else {
                        throw SeedFailure("the volume \(path) has \(size) bytes, not the \(volume.size) the manifest records (truncated or damaged)")
                    }
                }
            }
            for session in manifest.sessions {
                for member in session.members { members[member.key] = (session.number, member.extents, member.size) }
            }
        }
        if !readOnly {
            // What an interrupted run left: the unfinished session's volumes and spooled uploads.
            let next = (manifest?.sessions.map(\.number).max() ?? 0) + 1
            let unfinished = "\(set)-s\(String(format: "%02d", next)).tar."
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            where name.hasPrefix(unfinished) || name.hasPrefix(".cairn-spool-") {
                unlink(folder + "/" + name)
            }
        }
    }

    /// Opens a volume for reading: a regular file, not followed through a link.
    static func openVolume(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { throw errno == ENOENT ? SeedFailure("the volume \(path) is missing") : LocalFolderStorage.failure(path) }
        var info = Glibc.stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw SeedFailure("the volume \(path) is not a regular file")
        }
        return descriptor
    }

    /// Whether DIR holds a seed.
    public static func isSeed(_ folder: String) -> Bool { FileManager.default.fileExists(atPath: folder + "/" + SeedManifest.fileName) }

    // MARK: reading

    private func session(_ number: Int) throws -> SeedManifest.Session {
        guard let session = manifest?.sessions.first(where: { $0.number == number }) else { throw SeedFailure("the seed manifest has no session \(number)") }
        return session
    }

    /// A session's volumes; for this session's, once all it took is readable from them.
    private func volumes(of number: Int) async throws -> [SeedManifest.Volume] {
        guard number == currentSession, let writer else { return try session(number).volumes }
        return try await archiving {
            try writer.flush()
            return writer.volumes
        }
    }

    /// Reads `range` of a session's stream from its volumes.
    private func readStream(_ volumes: [SeedManifest.Volume], range: Range<Int>) throws -> [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(range.count)
        var start = 0
        for volume in volumes {
            let end = start + volume.size
            let from = max(range.lowerBound, start), to = min(range.upperBound, end)
            if from < to {
                let path = folder + "/" + volume.name
                let descriptor = try Self.openVolume(path)
                defer { close(descriptor) }
                var buffer = [UInt8](repeating: 0, count: to - from)
                var done = 0
                while done < buffer.count {
                    let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(from - start + done)) }
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { throw SeedFailure("the volume \(path) is truncated (it ends before byte \(from - start + done + 1) of \(volume.size))") }
                    done += count
                }
                result += buffer
            }
            start = end
        }
        guard result.count == range.count else { throw SeedFailure("a seed volume is missing: the session's volumes end before byte \(range.upperBound)") }
        return result
    }

    /// Reads `range` of a file from the pieces of the stream that hold it.
    private func readMember(_ key: String, _ member: (session: Int, pieces: [SeedManifest.Piece], size: Int), range: Range<Int>) async throws -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= member.size else { throw StorageError.outOfRange(folder + "/" + key) }
        let sessionVolumes = try await volumes(of: member.session)
        var result = [UInt8]()
        result.reserveCapacity(range.count)
        var start = 0
        for piece in member.pieces {
            let from = max(range.lowerBound, start), to = min(range.upperBound, start + piece.size)
            if from < to { result += try readStream(sessionVolumes, range: piece.offset + from - start..<piece.offset + to - start) }
            start += piece.size
        }
        guard result.count == range.count else { throw SeedFailure("\(folder)/\(key): its pieces hold \(result.count) of the \(range.count) bytes asked for") }
        return result
    }

    public func get(_ key: String) async throws -> [UInt8] {
        if let lock = locks[key] { return lock }
        if let bytes = small[key] { return bytes }
        guard let member = members[key] else { throw StorageError.notFound(folder + "/" + key) }
        return try await readMember(key, member, range: 0..<member.size)
    }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        if let bytes = small[key] ?? locks[key] {
            guard range.upperBound <= bytes.count else { throw StorageError.outOfRange(folder + "/" + key) }
            return StorageBuffer(Array(bytes[range]))
        }
        guard let member = members[key] else { throw StorageError.notFound(folder + "/" + key) }
        return StorageBuffer(try await readMember(key, member, range: range))
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        if let lock = locks[key] { return StorageItem(key: key, size: lock.count) }
        return members[key].map { StorageItem(key: key, size: $0.size) }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        let keys = (Array(members.keys) + Array(locks.keys)).filter { key in key.hasPrefix(prefix) && (after.map { key > $0 } ?? true) }.sorted()
        return keys.prefix(limit).map { key in StorageItem(key: key, size: locks[key]?.count ?? members[key]!.size) }
    }

    // MARK: writing

    /// The thread the volumes are written on, one member after another: copying a pack
    /// through libarchive, and waiting while the disk is behind, never holds one of the few
    /// threads tasks run on.
    private nonisolated let archiveQueue = DispatchQueue(label: "cairn.seed.archive")

    private func archiving<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            archiveQueue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    private var currentSession: Int { (manifest?.sessions.map(\.number).max() ?? 0) + 1 }

    private func writable() throws -> VolumeWriter {
        guard !readOnly else { throw StorageError.readOnly(folder) }
        guard !finishing else { throw SeedFailure("the seed's volumes at \(folder) are being closed: nothing more goes in") }
        if let writer { return writer }
        let base = "\(setName)-s\(String(format: "%02d", currentSession))"
        let made = try VolumeWriter(folder: folder, baseName: base, volumeSize: volumeSize)
        writer = made
        return made
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try StorageKey.check(key)
        if key.hasPrefix("locks/") {
            locks[key] = data
            return
        }
        if let earlier = members[key], earlier.session != currentSession {
            throw SeedFailure("the seed at \(folder) holds \(key) already: the files of a seed are never replaced")
        }
        let writer = try writable()
        let offset = try await archiving {
            try writer.add(key: key, size: data.count) { write in try data.withUnsafeBytes { try write($0) } }
        }
        record(key, pieces: [SeedManifest.Piece(offset: offset, size: data.count)])
        if data.count < 1 << 20, !key.hasPrefix("data/") {
            // A copy of its own size: the upload's buffer has room for a pack.
            small[key] = [UInt8](unsafeUninitializedCapacity: data.count) { room, count in
                count = data.withUnsafeBytes { $0.copyBytes(to: UnsafeMutableRawBufferPointer(room)) }
            }
        }
    }

    private func record(_ key: String, pieces: [SeedManifest.Piece]) {
        let member = SeedManifest.Member(key: key, pieces: pieces)
        members[key] = (currentSession, pieces, member.size)
        // Written again in this session: the last one counts (the earlier stays in the stream, unnamed).
        newMembers.removeAll { $0.key == key }
        newMembers.append(member)
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        // Decided here, before the put suspends: a second caller meanwhile finds the key reserved.
        if locks[key] != nil || members[key] != nil || reserved.contains(key) { return false }
        reserved.insert(key)
        defer { reserved.remove(key) }
        try await put(key, data)
        return true
    }

    public func delete(_ key: String) async throws {
        if key.hasPrefix("locks/") {
            locks[key] = nil
            return
        }
        throw SeedFailure("a seed-load folder is only added to: \(key) cannot be removed from \(folder)")
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        try StorageKey.check(key)
        _ = try writable()
        return PieceUpload(key: key, seed: self)
    }

    /// Appends a piece of an upload not yet committed, as the member KEY.partNNN (the file is
    /// its pieces one after another); where it lies in the stream.
    func addPiece(of key: String, number: Int, _ data: [UInt8]) async throws -> SeedManifest.Piece {
        let writer = try writable()
        let name = "\(key).part\(String(format: "%03d", number))"
        let offset = try await archiving {
            try writer.add(key: name, size: data.count) { write in try data.withUnsafeBytes { try write($0) } }
        }
        return SeedManifest.Piece(offset: offset, size: data.count)
    }

    /// Makes an upload written in pieces a file of the seed.
    func commitPieces(of key: String, _ pieces: [SeedManifest.Piece]) {
        record(key, pieces: pieces)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int { 0 }

    /// Buffers of uploads, kept for the next: a fresh one of a megabyte or more is mapped anew,
    /// and faulting in its pages costs system time on every piece.
    private nonisolated let spoolBuffers = Mutex<[[UInt8]]>([])

    /// An empty buffer with room for a piece and the write that completes it.
    nonisolated func spoolBuffer() -> [UInt8] {
        if let kept = spoolBuffers.withLock({ $0.popLast() }) { return kept }
        var buffer = [UInt8]()
        buffer.reserveCapacity(2 * PieceUpload.pieceSize)
        return buffer
    }

    /// Takes back an upload's buffer (a few are kept).
    nonisolated func reuse(_ buffer: inout [UInt8]) {
        var kept = [UInt8]()
        swap(&kept, &buffer)
        kept.removeAll(keepingCapacity: true)
        guard kept.capacity <= 4 * PieceUpload.pieceSize else { return }
        spoolBuffers.withLock { if $0.count < 4 { $0.append(kept) } }
    }

    /// Ends this session: closes its volumes and writes the manifest, signed with `key` (the
    /// repository's seed manifest key), crash-safely. Nothing written: the manifest stays.
    public func finish(repository: String, encryption: String, snapshot: String?, key: [UInt8]?, created: String) async throws {
        guard let writer, !finishing else { return }
        finishing = true
        defer { finishing = false }
        let volumes = try await archiving { try writer.finish() }
        var manifest = self.manifest ?? SeedManifest(set: setName, repository: repository, encryption: encryption)
        // A folder an older cairn began: what is added now may need this version to be read.
        manifest.version = max(manifest.version, SeedManifest.currentVersion)
        manifest.sessions.append(
            SeedManifest.Session(
                number: currentSession, created: created, snapshot: snapshot, volumeSize: volumeSize, volumes: volumes, members: newMembers))
        // What the next open checks, checked before anything is written.
        if let problem = manifest.problem { throw SeedFailure("the seed manifest for \(folder) would be damaged: \(problem)") }
        let signed = try manifest.signed(key: key)
        guard signed.count <= SeedManifest.largest else {
            throw SeedFailure("the seed at \(folder) has grown past what one manifest describes (\(SeedManifest.largest >> 20) MiB): carry it and seed-load into a new folder")
        }
        try DurableFile.write(signed, to: folder + "/" + SeedManifest.fileName, mode: 0o644)
        self.manifest = manifest
        self.writer = nil
        newMembers = []
    }

    /// Checks the manifest's code with the repository's key, and that the seed is the set's and
    /// the repository's; nothing to check in a folder no seed-load finished yet.
    public func authenticate(_ repository: Repository, set: String) throws {
        guard let manifest else { return }
        let place = folder + "/" + SeedManifest.fileName
        guard let bytes = FileManager.default.contents(atPath: place) else { throw SeedFailure("the seed manifest \(place) is gone") }
        try SeedManifest.authenticate(Array(bytes), key: repository.keys.seedManifestKey, at: place)
        guard (try? SeedManifest.decode(bytes, at: place)) == manifest else {
            throw SeedFailure("the seed manifest \(place) changed while it was read")
        }
        guard manifest.set == set else {
            throw SeedFailure("the seed at \(folder) holds backup set '\(manifest.set)', not '\(set)'")
        }
        guard manifest.repository == repository.descriptor.id else {
            throw SeedFailure("the seed manifest \(place) names repository \(manifest.repository.prefix(8)), but its volumes hold \(repository.descriptor.id.prefix(8))")
        }
    }

    /// Every volume of every session: there, of its size, and of its SHA-256.
    public func checkVolumes() throws {
        for session in manifest?.sessions ?? [] {
            for volume in session.volumes {
                let path = folder + "/" + volume.name
                let handle = FileHandle(fileDescriptor: try Self.openVolume(path), closeOnDealloc: true)
                defer { try? handle.close() }
                let hasher = SHA256Stream()
                var size = 0
                while size <= volume.size, let data = try handle.read(upToCount: 4 << 20), !data.isEmpty {
                    hasher.update(data)
                    size += data.count
                }
                guard size == volume.size else {
                    throw SeedFailure("the volume \(path) has \(size) bytes, not the \(volume.size) the manifest records (truncated or damaged)")
                }
                guard hasher.finish().map({ String(format: "%02x", $0) }).joined() == volume.sha256 else {
                    throw SeedFailure("the volume \(path) does not match its SHA-256 in the manifest (damaged)")
                }
            }
        }
    }
}

/// An upload into a seed folder: written into the session's stream as it comes, in pieces of
/// about a megabyte (a tar member's header needs its size first, and a pack's size is known only
/// at its end), and a file of the seed once committed. Memory holds at most a piece; an upload
/// given up leaves its pieces in the stream, unnamed by the manifest.
final class PieceUpload: StorageUpload, @unchecked Sendable {
    static let pieceSize = 1 << 20
    let key: String
    let seed: SeedFolder
    private var buffer: [UInt8] = []
    private var pieces: [SeedManifest.Piece] = []

    init(key: String, seed: SeedFolder) {
        self.key = key
        self.seed = seed
    }

    func write(_ bytes: [UInt8]) async throws {
        if buffer.isEmpty && bytes.count >= Self.pieceSize {
            try await emit(bytes)
            return
        }
        if buffer.capacity == 0 { buffer = seed.spoolBuffer() }
        buffer += bytes
        if buffer.count >= Self.pieceSize {
            try await emit(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    private func emit(_ bytes: [UInt8]) async throws {
        pieces.append(try await seed.addPiece(of: key, number: pieces.count, bytes))
    }

    func commit() async throws {
        if pieces.isEmpty {
            // Written whole, under its own name.
            try await seed.put(key, buffer)
        } else {
            if !buffer.isEmpty { try await emit(buffer) }
            await seed.commitPieces(of: key, pieces)
        }
        seed.reuse(&buffer)
        pieces = []
    }
}
