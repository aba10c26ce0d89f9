import Foundation
import Synchronization
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// An open directory inside a restore target, reached from the target one name at a time
/// without following symbolic links, so nothing a repository holds can lead a restore outside
/// its target (borg's CVE-2026-62268 and restic's #1445 are the lessons).
///
/// The target may be writable by someone else (a user's home, restored by root), who can swap
/// any entry for a link while the restore runs: metadata is therefore only ever set through a
/// descriptor of the object itself, opened without following links and checked to be the
/// object the restore made or examined (`Identity`), never through a name.
final class SafeDirectory: @unchecked Sendable {
    let descriptor: Int32
    /// Where it is, for messages.
    let location: Location
    let identity: Identity

    var path: FilePath { location.path }

    private init(descriptor: Int32, location: Location, identity: Identity) {
        self.descriptor = descriptor
        self.location = location
        self.identity = identity
    }

    deinit { close(descriptor) }

    /// Opens the restore target itself (following links there: the user named it).
    static func openTarget(_ path: FilePath, create: Bool) throws -> SafeDirectory {
        if create {
            var current = FilePath.root
            for name in path.components {
                current = current.appending(name)
                let result = current.withCString { mkdir($0, 0o755) }
                if result != 0 && errno != EEXIST { throw FileMetadata.Failure(path: current, operation: "mkdir", code: errno) }
            }
        }
        let descriptor = path.withCString { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw FileMetadata.Failure(path: path, operation: "open", code: errno) }
        var info = stat()
        fstat(descriptor, &info)
        return SafeDirectory(descriptor: descriptor, location: Location(path), identity: Identity(info))
    }

    /// A name from a repository is safe to create here: not empty, not `.` or `..`, no `/` or NUL.
    static func isSafeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(0x2F) && !name.contains(0)
    }

    static func withName<R>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (name + [0]).withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { try body($0) }
        }
    }

    func failure(_ name: [UInt8], _ operation: String, _ code: Int32 = errno) -> FileMetadata.Failure {
        FileMetadata.Failure(path: path.appending(name), operation: operation, code: code)
    }

    /// The entry `name` here, not following a link; nil when there is none.
    func status(of name: [UInt8]) throws -> stat? {
        var info = stat()
        let result = Self.withName(name) { fstatat(descriptor, $0, &info, AT_SYMLINK_NOFOLLOW) }
        if result == 0 { return info }
        if errno == ENOENT { return nil }
        throw failure(name, "stat")
    }

    /// The target of the symbolic link `name` here.
    func linkTarget(_ name: [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = Self.withName(name) { cName in
            buffer.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { readlinkat(descriptor, cName, $0, buffer.count) }
            }
        }
        guard count >= 0 else { throw failure(name, "readlink") }
        return Array(buffer[0..<count])
    }

    /// Opens (creating when missing) the subdirectory `name`; refuses a link or a non-directory.
    /// A new directory is private (0700) until its own mode is applied, or takes the umask's
    /// default when `defaultMode` (a restore without permissions). A directory this call made
    /// must still be this process's own once opened (for root: owned by root): else someone
    /// put their own folder in its place, and it is refused.
    func subdirectory(_ name: [UInt8], create: Bool, defaultMode: Bool = false) throws -> (SafeDirectory, created: Bool) {
        var created = false
        if create {
            let result = Self.withName(name) { mkdirat(descriptor, $0, defaultMode ? 0o777 : 0o700) }
            if result == 0 {
                created = true
            } else if errno != EEXIST {
                throw failure(name, "mkdir")
            }
        }
        let child = try open(name)
        if created {
            var info = stat()
            fstat(child.descriptor, &info)
            guard info.st_uid == geteuid() else { throw Replaced(path: path.appending(name), what: "the folder it made") }
        }
        return (child, created)
    }

    /// Opens the folder `name` here, refusing a link or anything but a folder.
    func open(_ name: [UInt8]) throws -> SafeDirectory {
        let opened = Self.withName(name) { openat(descriptor, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else {
            let code = errno == ELOOP ? ENOTDIR : errno
            throw failure(name, "open the directory (a symbolic link or not a directory)", code)
        }
        var info = stat()
        fstat(opened, &info)
        return SafeDirectory(descriptor: opened, location: location.appending(name), identity: Identity(info))
    }

    /// Opens the folder `name` here only when it is still `identity` (the folder the restore
    /// made or entered): a link, another folder or nothing in its place is `Replaced`.
    func open(_ name: [UInt8], expecting identity: Identity) throws -> SafeDirectory {
        let opened: SafeDirectory
        do { opened = try open(name) } catch { throw Replaced(path: path.appending(name), what: "the folder it restored") }
        guard opened.identity == identity else { throw Replaced(path: path.appending(name), what: "the folder it restored") }
        return opened
    }

    /// The parent of this folder, when it is still `identity`: a walk that closed it to keep
    /// few folders open comes back to it this way.
    func parent(expecting identity: Identity, location: Location) throws -> SafeDirectory {
        let opened = openat(descriptor, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard opened >= 0 else { throw Replaced(path: location.path, what: "the folder it was restoring into") }
        var info = stat()
        fstat(opened, &info)
        let parent = SafeDirectory(descriptor: opened, location: location, identity: Identity(info))
        guard parent.identity == identity else { throw Replaced(path: location.path, what: "the folder it was restoring into") }
        return parent
    }

    /// A fresh temporary name: random per process, numbered within it (files are created
    /// with O_EXCL, so a clash is an error, never an overwrite).
    static func temporaryName() -> [UInt8] {
        temporaryPrefix + Array(String(temporaryCount.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 36).utf8)
    }

    static let temporaryStart = Array(".cairn-restore-".utf8)
    private static let temporaryPrefix =
        temporaryStart + Array(((try? SecureRandom.bytes(6)) ?? [1, 2, 3, 4, 5, 6]).map { String(format: "%02x", $0) }.joined().utf8) + [0x2D]
    private static let temporaryCount = Atomic<Int>(0)

    /// Whether `name` is a temporary name a restore gives: `.cairn-restore-`, 12 hex digits,
    /// `-`, a number in base 36.
    static func isTemporaryName(_ name: [UInt8]) -> Bool {
        guard name.starts(with: temporaryStart), name.count > temporaryStart.count + 13 else { return false }
        let random = name[temporaryStart.count..<temporaryStart.count + 12]
        let number = name[(temporaryStart.count + 13)...]
        let hex = Array("0123456789abcdef".utf8), base36 = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        return random.allSatisfy(hex.contains) && name[temporaryStart.count + 12] == 0x2D && number.allSatisfy(base36.contains)
    }

    func rename(_ from: [UInt8], to: [UInt8]) throws {
        let result = Self.withName(from) { fromName in Self.withName(to) { renameat(descriptor, fromName, descriptor, $0) } }
        guard result == 0 else { throw failure(to, "rename") }
    }

    /// Renames `from` to `to`, then checks that `to` is `identity`, the object the restore made:
    /// someone who swapped the temporary entry had their own moved into place instead.
    func rename(_ from: [UInt8], to: [UInt8], expecting identity: Identity) throws {
        try rename(from, to: to)
        guard let now = try status(of: to), Identity(now) == identity else {
            throw Replaced(path: path.appending(to), what: "the entry it wrote")
        }
    }

    func remove(_ name: [UInt8]) {
        _ = Self.withName(name) { unlinkat(descriptor, $0, 0) }
    }

    /// Removes the temporary entries an interrupted restore left here: entries with a
    /// restore's temporary name, never following a link (a link, fifo or device is unlinked by
    /// its name), a regular file only when no running restore is writing it (each holds a lock
    /// on its temporary file). Returns how many were removed.
    func removeLeftovers() -> Int {
        let copy = dup(descriptor)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return 0
        }
        defer { closedir(stream) }
        var leftovers: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = directoryEntryName(entry)
            if Self.isTemporaryName(name) { leftovers.append(name) }
        }
        var removed = 0
        for name in leftovers {
            // A link, fifo or device made under a temporary name: unlinking a name never
            // follows it.
            if let info = try? status(of: name), (info.st_mode & S_IFMT) != S_IFREG {
                if (info.st_mode & S_IFMT) != S_IFDIR, Self.withName(name, { unlinkat(descriptor, $0, 0) }) == 0 { removed += 1 }
                continue
            }
            let file = Self.withName(name) { openat(descriptor, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard file >= 0 else { continue }
            defer { close(file) }
            var info = stat()
            guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, flock(file, LOCK_EX | LOCK_NB) == 0,
                let named = try? status(of: name), Identity(named) == Identity(info)
            else { continue }
            if Self.withName(name, { unlinkat(descriptor, $0, 0) }) == 0 { removed += 1 }
        }
        return removed
    }
}

/// Which object a file-system entry is: device and inode.
struct Identity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// Something else took the place of an entry while the restore ran: reported, not touched.
struct Replaced: Error, CustomStringConvertible {
    var path: FilePath
    var what: String

    var description: String {
        "\(path): replaced or moved while the restore ran (it is not \(what)): left as it is, its metadata not set"
    }
}

/// A path inside a restore as a chain of names, made into bytes only for a message: a walk
/// 20,000 folders deep keeps one name per level, not 20,000 paths of up to 40 kB.
final class Location: Sendable {
    let parent: Location?
    let name: [UInt8]
    let base: FilePath?

    init(_ base: FilePath) {
        parent = nil
        name = []
        self.base = base
    }

    private init(parent: Location, name: [UInt8]) {
        self.parent = parent
        self.name = name
        base = nil
    }

    func appending(_ name: [UInt8]) -> Location { Location(parent: self, name: name) }

    var path: FilePath {
        var names: [[UInt8]] = []
        var current: Location? = self
        var base = FilePath.root
        while let location = current {
            if let start = location.base { base = start } else { names.append(location.name) }
            current = location.parent
        }
        var bytes = base.bytes
        for name in names.reversed() {
            if bytes != [0x2F] { bytes.append(0x2F) }
            bytes += name
        }
        return FilePath(bytes)
    }
}
