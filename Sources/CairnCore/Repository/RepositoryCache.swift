import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Copies, on this machine, of a remote repository's files that never change once written:
/// key files, index files, snapshots and trees (`$XDG_CACHE_HOME/cairn/REPOSITORY-ID/files/`,
/// by default under `~/.cache`). Opening a repository on an object store then costs its
/// listings and only the files that are new since the last run: a backup with nothing changed
/// makes a few requests however many snapshots, index files and trees the repository has.
///
/// Entries are the stored bytes, sealed as stored: the cache says nothing to someone without
/// the key, and each entry is opened (seal, checksum, hash) exactly as the stored file is, so a
/// damaged or planted entry is never used: it is read again from the storage. Entries of
/// files a listing no longer shows are removed. A cache that cannot be written only costs
/// downloads.
public struct RepositoryCache: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The cache of repository `id` under the run's cache folder; nil when there is none.
    public static func of(repository id: String, run: RunEnvironment) -> RepositoryCache? {
        run.cacheDirectory.map { RepositoryCache(directory: "\($0)/\(id)/files") }
    }

    /// Where a restore keeps objects read ahead of their use (the repository's folder above
    /// `files/`): on the same disk as the cache, owned by the same user, mode 0700.
    var scratchFolder: String? {
        let folder = (directory as NSString).deletingLastPathComponent
        return Self.makeFolders(folder) ? folder : nil
    }

    /// Keys are `FOLDER/HEX` (snapshots/..., index/..., keys/..., trees/...): nothing else is kept.
    private func path(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, ["keys", "index", "snapshots", "trees"].contains(parts[0]),
            !parts[1].isEmpty, parts[1].allSatisfy({ $0.isHexDigit })
        else { return nil }
        return "\(directory)/\(key)"
    }

    func bytes(_ key: String) -> [UInt8]? {
        guard let path = path(key), let data = FileManager.default.contents(atPath: path) else { return nil }
        return Array(data)
    }

    /// Keeps `bytes` as `key`'s entry: readable by this user only (key files are the master key
    /// wrapped by the passphrase; with encryption `none`, trees hold every file name).
    func keep(_ key: String, _ bytes: [UInt8]) {
        guard let path = path(key) else { return }
        let folder = (path as NSString).deletingLastPathComponent
        guard Self.makeFolders(folder) else { return }
        // Whole or not at all: written beside, then renamed over.
        let temporary = "\(path).\(UUID().uuidString).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        var written = 0
        let complete = bytes.withUnsafeBytes { buffer -> Bool in
            while written < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                written += count
            }
            return true
        }
        close(descriptor)
        if !complete || rename(temporary, path) != 0 { unlink(temporary) }
    }

    /// Makes `folder` and the folders above it that are missing, each private to this user.
    private static func makeFolders(_ folder: String) -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) { return isDirectory.boolValue }
        let parent = (folder as NSString).deletingLastPathComponent
        guard parent != folder, makeFolders(parent) else { return false }
        return mkdir(folder, 0o700) == 0 || errno == EEXIST
    }

    func forget(_ key: String) {
        guard let path = path(key) else { return }
        unlink(path)
    }

    /// Removes the entries of `folder` that are not among `keys` (a full listing of it).
    func retain(folder: String, keys: Set<String>) {
        retain(folder: folder) { keys.contains("\(folder)/\($0)") }
    }

    /// Removes the entries of `folder` whose names `keep` refuses.
    func retain(folder: String, keep: (String) -> Bool) {
        let path = "\(directory)/\(folder)"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        // Temporaries are left: another run may be writing them.
        for name in names where !name.hasSuffix(".tmp") && !keep(name) {
            unlink("\(path)/\(name)")
        }
    }

    /// `key`'s file, made into a value by `open` (which checks its seal): from the cache when
    /// it holds a good copy, else from `storage` and then kept. A cached copy that `open`
    /// refuses is forgotten; a stored one that it refuses throws as usual.
    func load<Value>(_ key: String, from storage: any StorageBackend, open: ([UInt8]) throws -> Value) async throws -> Value {
        if let cached = bytes(key) {
            if let value = try? open(cached) { return value }
            forget(key)
        }
        let bytes = try await storage.get(key)
        let value = try open(bytes)
        keep(key, bytes)
        return value
    }
}
