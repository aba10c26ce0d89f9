import Foundation
internal import CLinux
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Writing one entry: under a temporary name, verified, then renamed into place.
extension Restorer {
    mutating func write(_ entry: TreeEntry, at path: FilePath, in directory: SafeDirectory) async throws {
        let temporary = SafeDirectory.temporaryName()
        var keep = false
        defer { if !keep { directory.remove(temporary) } }
        switch entry.kind {
        case .file:
            if entry.links > 1, let first = linkSource(for: entry) {
                let linked = SafeDirectory.withName(first.name) { from in
                    SafeDirectory.withName(temporary) { linkat(first.directory.descriptor, from, directory.descriptor, $0, 0) }
                }
                // The name linked to must still be the file restored there.
                if linked == 0, let info = try directory.status(of: temporary), Identity(info) == first.identity {
                    try directory.rename(temporary, to: entry.name, expecting: first.identity)
                    keep = true
                    await reads.forget(entry.content.map(\.object))
                    return
                }
                directory.remove(temporary)
            }
            let (bytes, failures, identity) = try await Self.writeFile(
                entry, in: directory, path: path, reads: reads, permissions: permissions, dropBehind: dropBehind)
            bytesWritten += bytes
            problems += failures.map { Problem(path: path, message: $0) }
            if entry.links > 1 { rememberLink(entry, directory: directory, identity: identity) }
            keep = true
            return
        case .symlink:
            let result = SafeDirectory.withName(temporary) { name in
                (entry.symlinkTarget + [0]).withUnsafeBufferPointer { target in
                    target.baseAddress!.withMemoryRebound(to: CChar.self, capacity: target.count) { symlinkat($0, directory.descriptor, name) }
                }
            }
            guard result == 0 else { throw FileMetadata.Failure(path: path, operation: "symlink", code: errno) }
        case .fifo:
            let result = SafeDirectory.withName(temporary) { mkfifoat(directory.descriptor, $0, permissions ? 0o600 : 0o666) }
            guard result == 0 else { throw FileMetadata.Failure(path: path, operation: "mkfifo", code: errno) }
        case .characterDevice, .blockDevice:
            let type: mode_t = entry.kind == .characterDevice ? 0o020000 : 0o060000
            let result = SafeDirectory.withName(temporary) { mknodat(directory.descriptor, $0, type | 0o600, dev_t(entry.rdev)) }
            guard result == 0 else { throw FileMetadata.Failure(path: path, operation: "create the device (needs root)", code: errno) }
        case .socket:
            problems.append(Problem(path: path, message: "a socket is not restored: the program that made it creates it again"))
            return
        case .directory:
            return
        }
        FaultInjection.reach("restore-entry-created")
        // What is under the temporary name must be what was just made: of its kind, this
        // process's own and with no other name. Its metadata is set through its descriptor.
        guard let node = directory.node(temporary) else { throw Replaced(path: path, what: "the entry it made") }
        defer { node.close() }
        guard node.kind == SafeDirectory.fileType(entry.kind), node.info.st_uid == geteuid(), node.info.st_nlink == 1 else {
            throw Replaced(path: path, what: "the entry it made")
        }
        for failure in SafeDirectory.applyMetadata(entry, toNode: node, permissions: permissions) {
            problems.append(Problem(path: path, message: failure))
        }
        try directory.rename(temporary, to: entry.name, expecting: node.identity)
        keep = true
    }

    private func linkSource(for entry: TreeEntry) -> (directory: SafeDirectory, name: [UInt8], identity: Identity)? {
        linksByInode[Pair(device: entry.device, inode: entry.inode)]
    }

    /// Writes a file's extents, leaving runs of zeros as holes so sparse files stay sparse,
    /// checks the whole content against the recorded hash, sets its metadata and only then
    /// gives it its name; returns its size, the metadata that could not be set, and which file
    /// it is.
    ///
    /// The file is made without a name (O_TMPFILE) and linked under its name once complete:
    /// nothing half-written is ever visible under a name, a kill leaves nothing behind, no one
    /// can swap it for something else while it is written, and the folder is changed once per
    /// file instead of twice (a create and a rename: 100,000 tiny files restored with 13% of
    /// the run's time in renames). When the name is taken (a file restored over a different
    /// one), it is linked under a temporary name and renamed over it. Where the file system has
    /// no unnamed files, it is written under a temporary name, locked while it is written so
    /// another restore never takes it for a leftover, and renamed into place.
    /// A file written through the page cache and large enough goes to `dropBehind` once in
    /// place, which closes it.
    static func writeFile(
        _ entry: TreeEntry, in directory: SafeDirectory, path: FilePath, reads: JoinedReads, permissions: Bool, dropBehind: DropBehind
    ) async throws -> (UInt64, [String], Identity) {
        let progress = Progress()
        var file: NewFile?
        defer { file?.close() }
        do {
            let made = try NewFile(in: directory, path: path, mode: permissions ? mode_t(entry.mode) & 0o777 : nil)
            file = made
            let (bytes, failures, identity) = try await writeFile(entry, to: made, path: path, reads: reads, permissions: permissions, progress: progress)
            try made.place(as: entry.name, identity: identity, path: path)
            if Self.flushesEarly(entry.size) && dropBehind.takesFiles {
                file = nil
                // A lock it took while it had a temporary name ends with its writing.
                _ = flock(made.descriptor, LOCK_UN)
                dropBehind.add(made.descriptor, bytes: Int(entry.size))
            }
            return (bytes, failures, identity)
        } catch {
            file?.discard()
            // The objects it had not asked for yet are no longer waited for.
            await reads.forget(entry.content[progress.next...].map(\.object))
            throw error
        }
    }

    /// Whether restored files are made without a name where the file system allows it: not
    /// when this process may be unable to name them (linking a descriptor needs root, or, on
    /// older kernels, its /proc/self/fd link), nor with the test switch
    /// CAIRN_RESTORE_NAMED_TEMPORARIES (to test the other way).
    static let unnamedFiles = !FaultInjection.namedRestoreTemporaries && (geteuid() == 0 || access("/proc/self/fd", X_OK) == 0)

    /// A file being restored: unnamed, or under a temporary name (`temporary`), in `directory`.
    struct NewFile {
        let descriptor: Int32
        let directory: SafeDirectory
        let temporary: [UInt8]?

        /// `mode`: the permissions it is to have, nil for the umask's default.
        init(in directory: SafeDirectory, path: FilePath, mode wanted: mode_t?) throws {
            self.directory = directory
            if Restorer.unnamedFiles {
                // Made with its permissions (a file without a name can be opened only by this
                // process, or root, through /proc), which spares a chmod when the umask leaves
                // them as they are.
                let unnamed = cairn_open_unnamed(directory.descriptor, Int32(wanted ?? 0o666))
                if unnamed >= 0 {
                    descriptor = unnamed
                    temporary = nil
                    return
                }
                guard errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL else {
                    throw FileMetadata.Failure(path: path, operation: "create", code: errno)
                }
            }
            // Private while its name is temporary; without permissions, the umask's default.
            let mode: Int32 = wanted == nil ? 0o666 : 0o600
            let name = SafeDirectory.temporaryName()
            let named = SafeDirectory.withName(name) {
                openat(directory.descriptor, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
            }
            guard named >= 0 else { throw FileMetadata.Failure(path: path, operation: "create", code: errno) }
            descriptor = named
            temporary = name
            guard flock(named, LOCK_EX) == 0 else {
                let code = errno
                discard()
                close()
                throw FileMetadata.Failure(path: path, operation: "lock", code: code)
            }
        }

        /// Gives the written file its name, replacing what is there (see `writeFile`).
        func place(as name: [UInt8], identity: Identity, path: FilePath) throws {
            if let temporary {
                try directory.rename(temporary, to: name, expecting: identity)
                return
            }
            let linked = SafeDirectory.withName(name) { cairn_link_unnamed(descriptor, directory.descriptor, $0) }
            if linked == 0 { return }
            guard errno == EEXIST else { throw FileMetadata.Failure(path: path, operation: "link", code: errno) }
            // Locked before it has a name, so another restore never takes it for a leftover.
            guard flock(descriptor, LOCK_EX) == 0 else { throw FileMetadata.Failure(path: path, operation: "lock", code: errno) }
            let temporary = SafeDirectory.temporaryName()
            guard SafeDirectory.withName(temporary, { cairn_link_unnamed(descriptor, directory.descriptor, $0) }) == 0 else {
                throw FileMetadata.Failure(path: path, operation: "link", code: errno)
            }
            do {
                try directory.rename(temporary, to: name, expecting: identity)
            } catch {
                directory.remove(temporary)
                throw error
            }
        }

        /// Removes the temporary name of a file given up (an unnamed file goes with its
        /// descriptor).
        func discard() {
            if let temporary { directory.remove(temporary) }
        }

        func close() {
            _ = Glibc.close(descriptor)
        }
    }

    /// How far a file's writing got: its extents before `next` were asked for.
    final class Progress {
        var next = 0
    }

    private static func writeFile(
        _ entry: TreeEntry, to file: NewFile, path: FilePath, reads: JoinedReads, permissions: Bool, progress: Progress
    ) async throws -> (UInt64, [String], Identity) {
        let repository = reads.repository
        let descriptor = file.descriptor
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileMetadata.Failure(path: path, operation: "stat", code: errno) }
        // An in-file delta's content is hashed whole as it is written, which checks every byte
        // of its objects: their own hashes would be computed for nothing (a second SHA-256 pass
        // over the file).
        let hashedWhole = entry.delta.map { !$0.isFull } == true && entry.contentHash != nil
        // Objects are loaded (read, decrypted, checked) a few ahead while earlier ones are written.
        // Extents of the last few objects share their loads: an in-file delta's copies from one
        // object come back to it after each run of new data.
        // Least recently used first: one that falls out is neither waiting nor being written,
        // so its buffer goes back to the pool. `lastUse` is the last extent that uses it.
        let loads = WorkWindow<ChunkHandoff>(width: 3)
        var next = 0
        var taken = 0
        var recent: [(id: ObjectID, load: Task<ChunkHandoff, Error>, lastUse: Int)] = []
        func schedule() async throws {
            while next < entry.content.count, loads.count < loads.width {
                let id = entry.content[next].object
                if let index = recent.firstIndex(where: { $0.id == id }) {
                    // Announced once per extent, taken once.
                    await reads.forget([id])
                    var known = recent.remove(at: index)
                    known.lastUse = next
                    recent.append(known)
                    let load = known.load
                    try await loads.add { try await load.value }
                } else {
                    let load = Task { ChunkHandoff(try await reads.load(.blob, id, hashChecked: !hashedWhole)) }
                    recent.append((id, load, next))
                    try await loads.add { try await withTaskCancellationHandler { try await load.value } onCancel: { load.cancel() } }
                    // The least recently used goes, unless it is still waiting to be written.
                    if recent.count > Self.recentObjects, recent[0].lastUse < taken, let done = try? await recent.removeFirst().load.value {
                        BufferPool.shared.recycle(done.take())
                    }
                }
                next += 1
                progress.next = next
            }
        }
        // Content cut as a backup cuts it hashes from its objects' ids; any other layout (an
        // in-file delta's) is hashed from the bytes written, on another task, in order, at
        // most two pieces behind.
        // Loads still running when a damaged object stops the file are awaited, so no work is
        // left behind while the process ends.
        var hasher: ContentHasher? = hashedWhole ? ContentHasher(keys: repository.keys) : nil
        let hashing = WorkWindow<Void>(width: 2, oneAtATime: true)
        func hash(_ piece: ArraySlice<UInt8>) async throws {
            guard let hasher else { return }
            let handoff = ChunkHandoff(piece.withUnsafeBufferPointer { BufferPool.shared.copy($0) })
            try await hashing.add { hasher.update(taking: handoff) }
        }
        // Large files are written past the page cache (see AlignedFileWriter).
        var output: AlignedFileWriter
        do {
            output = try AlignedFileWriter(descriptor: descriptor, size: Int(entry.size), direct: entry.size >= directMinimum, sparse: true)
        } catch {
            throw FileMetadata.Failure(path: path, operation: "write", code: error.code)
        }
        do {
            for (index, extent) in entry.content.enumerated() {
                try await schedule()
                let object = try await loads.next()!.bytes
                taken += 1
                guard extent.offset + extent.length <= object.count else {
                    throw RepositoryError.damaged("an extent of \(path) reaches past the end of object \(extent.object.short)")
                }
                let piece = object[extent.offset..<extent.offset + extent.length]
                if hasher == nil && (extent.offset != 0 || extent.length != object.count) {
                    // Not cut as a backup cuts: hash everything from the start.
                    hasher = ContentHasher(keys: repository.keys)
                    for earlier in entry.content[..<index] {
                        try await hash(try await repository.load(.blob, earlier.object)[earlier.offset..<earlier.offset + earlier.length])
                    }
                }
                try await hash(piece)
                do { try await output.write(piece) } catch let failure as AlignedFileWriter.Failure {
                    throw FileMetadata.Failure(path: path, operation: "write", code: failure.code)
                }
            }
            try await hashing.finish()
        } catch {
            await output.settle()
            output.abandon()
            for (_, load, _) in recent { load.cancel() }
            await loads.drain()
            await hashing.drain()
            throw error
        }
        for (_, load, _) in recent {
            if let done = try? await load.value { BufferPool.shared.recycle(done.take()) }
        }
        let offset: Int
        await output.settle()
        do { offset = try output.finish() } catch let failure as AlignedFileWriter.Failure {
            throw FileMetadata.Failure(path: path, operation: "write", code: failure.code)
        }
        let hash = hasher?.finish() ?? ContentHasher.hash(ofChunks: entry.content.map(\.object), keys: repository.keys)
        if let expected = entry.contentHash, hash != expected {
            throw RepositoryError.damaged("the restored content of \(path) does not match its recorded hash")
        }
        // A file ending in a hole gets its size here.
        if output.end < offset {
            guard ftruncate(descriptor, off_t(offset)) == 0 else { throw FileMetadata.Failure(path: path, operation: "truncate", code: errno) }
        }
        // Its flush starts now, while later files are read: the restore's one flush at the
        // end then finds little left to write, and its pages can be let go of once later files
        // are written (`DropBehind`). Not for small files, which the kernel flushes in batches
        // (one request per file cost 14% of the time restoring 100,000 tiny files).
        if Self.flushesEarly(entry.size) { _ = cairn_start_writeback(descriptor, 0, 0) }
        FaultInjection.reach("restore-entry-created")
        return (UInt64(offset), SafeDirectory.applyMetadata(entry, toFile: descriptor, permissions: permissions, current: info), Identity(info))
    }

    /// Loaded objects a file's later extents may use again. (The benchmark's 1 GiB delta
    /// version read its packs 1,205 times with 2, 1,130 with 4 and 1,194 with 8: a delta's
    /// copies come back to the object they left right after a run of new data.)
    static let recentObjects = 4

    /// Files at least this large are written past the page cache, the device writing one
    /// buffer while the next fills. (A smaller file's direct writes mostly wait for the device
    /// at its end: files of 1-4 MiB restored 50% slower that way.)
    static let directMinimum: UInt64 = 8 << 20

    /// Files smaller than this are left to the kernel's own flushing and page cache (see
    /// `writeFile`).
    static let writebackMinimum: UInt64 = 64 << 10

    /// Whether a file of `size` bytes, written through the page cache, starts its flush once
    /// written and lets its pages go after (`DropBehind`).
    static func flushesEarly(_ size: UInt64) -> Bool { size >= writebackMinimum && size < directMinimum }

    /// Writes a regular file that is not a hard link: safe to run for several files at once.
    static func writePlainFile(
        _ entry: TreeEntry, at path: FilePath, in directory: SafeDirectory, reads: JoinedReads, permissions: Bool, dropBehind: DropBehind
    ) async -> (bytes: UInt64, problems: [Problem]) {
        do {
            let (bytes, failures, _) = try await writeFile(entry, in: directory, path: path, reads: reads, permissions: permissions, dropBehind: dropBehind)
            FaultInjection.reach("file-restored")
            return (bytes, failures.map { Problem(path: path, message: $0) })
        } catch {
            return (0, [Problem(path: path, message: "\(error)")])
        }
    }

}
