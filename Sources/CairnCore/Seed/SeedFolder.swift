import Foundation

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
    /// Where each file's data lies: its session and the offset in that session's stream.
    private var members: [String: (session: Int, offset: Int, size: Int)] = [:]
    /// This session's files under 1 MiB, also kept in memory (index files, snapshots, keys).
    private var small: [String: [UInt8]] = [:]
    private var locks: [String: [UInt8]] = [:]
    private var writer: VolumeWriter?
    private var newMembers: [SeedManifest.Member] = []
    private var spoolNumber = 0
    /// Held while writing: one seed-load at a time in a folder.
    private var lockDescriptor: Int32 = -1

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
        if let attributes = try? FileManager.default.attributesOfItem(atPath: place), (attributes[.size] as? NSNumber)?.intValue ?? 0 > 256 << 20 {
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
                for member in session.members { members[member.key] = (session.number, member.offset, member.size) }
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

    /// Reads `range` of a session's stream from its volumes.
    private func readStream(session number: Int, range: Range<Int>) throws -> [UInt8] {
        let volumes: [SeedManifest.Volume]
        if number == currentSession, let writer { volumes = writer.volumes } else { volumes = try session(number).volumes }
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

    public func get(_ key: String) async throws -> [UInt8] {
        if let lock = locks[key] { return lock }
        if let bytes = small[key] { return bytes }
        guard let member = members[key] else { throw StorageError.notFound(folder + "/" + key) }
        return try readStream(session: member.session, range: member.offset..<member.offset + member.size)
    }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        if let bytes = small[key] ?? locks[key] {
            guard range.upperBound <= bytes.count else { throw StorageError.outOfRange(folder + "/" + key) }
            return StorageBuffer(Array(bytes[range]))
        }
        guard let member = members[key] else { throw StorageError.notFound(folder + "/" + key) }
        guard range.upperBound <= member.size else { throw StorageError.outOfRange(folder + "/" + key) }
        return StorageBuffer(try readStream(session: member.session, range: member.offset + range.lowerBound..<member.offset + range.upperBound))
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

    private var currentSession: Int { (manifest?.sessions.map(\.number).max() ?? 0) + 1 }

    private func writable() throws -> VolumeWriter {
        guard !readOnly else { throw StorageError.readOnly(folder) }
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
        let writer = try writable()
        let offset = try writer.add(key: key, size: data.count) { write in try data.withUnsafeBytes { try write($0) } }
        record(key, offset: offset, size: data.count)
        if data.count < 1 << 20, !key.hasPrefix("data/") { small[key] = data }
    }

    private func record(_ key: String, offset: Int, size: Int) {
        members[key] = (currentSession, offset, size)
        newMembers.append(SeedManifest.Member(key: key, offset: offset, size: size))
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        if locks[key] != nil || members[key] != nil { return false }
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
        spoolNumber += 1
        let path = "\(folder)/.cairn-spool-\(getpid())-\(spoolNumber)"
        return try SpoolUpload(key: key, path: path, seed: self)
    }

    /// Appends a spooled upload as a member (a pack is never held whole in memory).
    func commitSpool(key: String, path: String, size: Int) throws {
        let writer = try writable()
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LocalFolderStorage.failure(path) }
        defer { close(descriptor) }
        let offset = try writer.add(key: key, size: size) { write in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw LocalFolderStorage.failure(path) }
                if count == 0 { break }
                try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            }
        }
        record(key, offset: offset, size: size)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int { 0 }

    /// Ends this session: closes its volumes and writes the manifest, signed with `key` (the
    /// repository's seed manifest key), crash-safely. Nothing written: the manifest stays.
    public func finish(repository: String, encryption: String, snapshot: String?, key: [UInt8]?, created: String) throws {
        guard let writer else { return }
        let volumes = try writer.finish()
        var manifest = self.manifest ?? SeedManifest(set: setName, repository: repository, encryption: encryption)
        manifest.sessions.append(
            SeedManifest.Session(
                number: currentSession, created: created, snapshot: snapshot, volumeSize: volumeSize, volumes: volumes, members: newMembers))
        try DurableFile.write(try manifest.signed(key: key), to: folder + "/" + SeedManifest.fileName, mode: 0o644)
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

/// An upload into a seed folder, appended as a member when committed (a tar header needs the
/// size first). Held in memory up to 32 MiB (a pack is 8 MiB), spilled to a file beside the
/// volumes beyond that, so a large upload is never held whole.
final class SpoolUpload: StorageUpload, @unchecked Sendable {
    static let inMemory = 32 << 20
    let key: String
    let path: String
    let seed: SeedFolder
    var buffer: [UInt8] = []
    var descriptor: Int32 = -1
    var size = 0

    init(key: String, path: String, seed: SeedFolder) throws {
        self.key = key
        self.path = path
        self.seed = seed
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(path)
        }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw LocalFolderStorage.failure(path) }
            done += count
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        size += bytes.count
        if descriptor < 0 && buffer.count + bytes.count <= Self.inMemory {
            buffer += bytes
            return
        }
        if descriptor < 0 {
            descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw LocalFolderStorage.failure(path) }
            try buffer.withUnsafeBytes { try append($0) }
            buffer = []
        }
        try bytes.withUnsafeBytes { try append($0) }
    }

    func commit() async throws {
        if descriptor < 0 {
            try await seed.put(key, buffer)
            buffer = []
            return
        }
        close(descriptor)
        descriptor = -1
        defer { unlink(path) }
        try await seed.commitSpool(key: key, path: path, size: size)
    }
}
