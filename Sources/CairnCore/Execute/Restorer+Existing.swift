import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An entry already in the target: whether it is what the snapshot holds, in which case it
/// is kept and given the snapshot's metadata (a restore run again after an interruption
/// finishes the job, folders and files it had made included).
extension Restorer {
    /// Whether `existing` (what `status` found at the entry's name) is the entry: a regular
    /// file with the same content, a link to the same target, a device with the same number, a
    /// fifo or a socket. When it is, its metadata is set, through a descriptor of the object
    /// checked to be the one examined (not a dry run).
    mutating func identical(_ entry: TreeEntry, existing: stat, in directory: SafeDirectory, path: FilePath) throws -> Bool {
        guard (existing.st_mode & S_IFMT) == SafeDirectory.fileType(entry.kind) else { return false }
        switch entry.kind {
        case .file:
            return try identicalFile(entry, existing: existing, in: directory, path: path)
        case .directory:
            return false
        case .symlink:
            guard try directory.linkTarget(entry.name) == entry.symlinkTarget else { return false }
        case .characterDevice, .blockDevice:
            guard UInt64(existing.st_rdev) == entry.rdev else { return false }
        case .fifo, .socket:
            break
        }
        guard !dryRun else { return true }
        guard let node = directory.node(entry.name) else { throw Replaced(path: path, what: "the entry it examined") }
        defer { node.close() }
        guard node.identity == Identity(existing) else { throw Replaced(path: path, what: "the entry it examined") }
        problems += SafeDirectory.applyMetadata(entry, toNode: node, permissions: permissions).map { Problem(path: path, message: $0) }
        return true
    }

    /// A regular file is read through the descriptor its metadata is then set through.
    private mutating func identicalFile(_ entry: TreeEntry, existing: stat, in directory: SafeDirectory, path: FilePath) throws -> Bool {
        guard UInt64(existing.st_size) == entry.size, let expected = entry.contentHash else { return false }
        // Not blocking: something swapped in since the check could be a fifo.
        let file = SafeDirectory.withName(entry.name) { openat(directory.descriptor, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard file >= 0 else { throw FileMetadata.Failure(path: path, operation: "open", code: errno) }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Identity(info) == Identity(existing) else {
            throw Replaced(path: path, what: "the file it examined")
        }
        guard try contentHash(of: file, path: path) == expected else { return false }
        if entry.links > 1 { rememberLink(entry, directory: directory, identity: Identity(info)) }
        if !dryRun {
            problems += SafeDirectory.applyMetadata(entry, toFile: file, permissions: permissions).map { Problem(path: path, message: $0) }
        }
        return true
    }

    private func contentHash(of descriptor: Int32, path: FilePath) throws -> ObjectID {
        let hasher = ContentHasher(keys: repository.keys)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileMetadata.Failure(path: path, operation: "read", code: errno)
            }
            if count == 0 { break }
            hasher.update(buffer[0..<count])
        }
        return hasher.finish()
    }
}
