import Foundation
import Synchronization
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// An open directory inside a restore target, reached from the target one name at a time
/// without following symbolic links, so nothing a repository holds can lead a restore outside
/// its target (borg's CVE-2026-62268 and restic's #1445 are the lessons).
final class SafeDirectory: @unchecked Sendable {
    let descriptor: Int32
    /// The path for messages.
    let path: FilePath

    private init(descriptor: Int32, path: FilePath) {
        self.descriptor = descriptor
        self.path = path
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
        let descriptor = path.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw FileMetadata.Failure(path: path, operation: "open", code: errno) }
        return SafeDirectory(descriptor: descriptor, path: path)
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

    /// The entry `name` here, not following a link; nil when there is none.
    func status(of name: [UInt8]) throws -> stat? {
        var info = stat()
        let result = Self.withName(name) { fstatat(descriptor, $0, &info, AT_SYMLINK_NOFOLLOW) }
        if result == 0 { return info }
        if errno == ENOENT { return nil }
        throw FileMetadata.Failure(path: path.appending(name), operation: "stat", code: errno)
    }

    /// Opens (creating when missing) the subdirectory `name`; refuses a link or a non-directory.
    /// A new directory is private (0700) until its own mode is applied, or takes the umask's
    /// default when `defaultMode` (a restore without permissions).
    func subdirectory(_ name: [UInt8], create: Bool, defaultMode: Bool = false) throws -> (SafeDirectory, created: Bool) {
        var created = false
        if create {
            let result = Self.withName(name) { mkdirat(descriptor, $0, defaultMode ? 0o777 : 0o700) }
            if result == 0 {
                created = true
            } else if errno != EEXIST {
                throw FileMetadata.Failure(path: path.appending(name), operation: "mkdir", code: errno)
            }
        }
        let opened = Self.withName(name) { openat(descriptor, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else {
            let code = errno == ELOOP ? ENOTDIR : errno
            throw FileMetadata.Failure(path: path.appending(name), operation: "open the directory (a symbolic link or not a directory)", code: code)
        }
        return (SafeDirectory(descriptor: opened, path: path.appending(name)), created)
    }

    /// A fresh temporary name: random per process, numbered within it (files are created
    /// with O_EXCL, so a clash is an error, never an overwrite).
    static func temporaryName() -> [UInt8] {
        temporaryPrefix + Array(String(temporaryCount.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 36).utf8)
    }

    private static let temporaryPrefix =
        Array(".cairn-restore-".utf8) + Array(((try? SecureRandom.bytes(6)) ?? [1, 2, 3, 4, 5, 6]).map { String(format: "%02x", $0) }.joined().utf8) + [0x2D]
    private static let temporaryCount = Atomic<Int>(0)

    func rename(_ from: [UInt8], to: [UInt8]) throws {
        let result = Self.withName(from) { fromName in Self.withName(to) { renameat(descriptor, fromName, descriptor, $0) } }
        guard result == 0 else { throw FileMetadata.Failure(path: path.appending(to), operation: "rename", code: errno) }
    }

    func remove(_ name: [UInt8]) {
        _ = Self.withName(name) { unlinkat(descriptor, $0, 0) }
    }

    /// Sets owner, extended attributes, mode, ACLs and times of `name` (not following links),
    /// in the order that keeps each from undoing another.
    func applyMetadata(_ entry: TreeEntry, to name: [UInt8], permissions: Bool) -> [String] {
        Self.withName(name) { cName in
            Self.applyMetadata(
                entry, permissions: permissions,
                owner: { fchownat(descriptor, cName, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) },
                xattrs: { setXattrs($0, on: name) },
                mode: { fchmodat(descriptor, cName, $0, 0) },
                times: { times in times.withUnsafeBufferPointer { utimensat(descriptor, cName, $0.baseAddress, AT_SYMLINK_NOFOLLOW) } })
        }
    }

    /// The same for a regular file open at `file`: no name to look up again.
    static func applyMetadata(_ entry: TreeEntry, toFile file: Int32, permissions: Bool) -> [String] {
        applyMetadata(
            entry, permissions: permissions,
            owner: { fchown(file, entry.uid, entry.gid) },
            xattrs: { xattrs in
                xattrs.compactMap { xattr in
                    let result = withName(xattr.name) { xattrName in
                        xattr.value.withUnsafeBytes { fsetxattr(file, xattrName, $0.baseAddress, $0.count, 0) }
                    }
                    return result != 0 && errno != ENOTSUP ? xattrFailure(xattr) : nil
                }
            },
            mode: { fchmod(file, $0) },
            times: { times in times.withUnsafeBufferPointer { futimens(file, $0.baseAddress) } })
    }

    private static func applyMetadata(
        _ entry: TreeEntry, permissions: Bool, owner: () -> Int32, xattrs: ([TreeEntry.Xattr]) -> [String], mode: (mode_t) -> Int32,
        times: ([timespec]) -> Int32
    ) -> [String] {
        var failures: [String] = []
        if permissions {
            if owner() != 0, getuid() == 0 {
                failures.append("cannot set the owner: \(String(cString: strerror(errno)))")
            }
            let acls = entry.xattrs.filter { $0.name.starts(with: Array("system.posix_acl".utf8)) }
            let others = entry.xattrs.filter { !$0.name.starts(with: Array("system.posix_acl".utf8)) }
            if entry.kind != .symlink { failures += xattrs(others) }
            if entry.kind != .symlink, mode(mode_t(entry.mode)) != 0 {
                failures.append("cannot set the mode: \(String(cString: strerror(errno)))")
            }
            if entry.kind != .symlink { failures += xattrs(acls) }
        }
        if times([entry.mtime.timespec, entry.mtime.timespec]) != 0 {
            failures.append("cannot set the times: \(String(cString: strerror(errno)))")
        }
        return failures
    }

    private static func xattrFailure(_ xattr: TreeEntry.Xattr) -> String {
        "cannot set the extended attribute \(FilePath.display(xattr.name)): \(String(cString: strerror(errno)))"
    }

    /// Sets extended attributes through `/proc/self/fd`, so the name is resolved in this
    /// directory and never through a link.
    private func setXattrs(_ xattrs: [TreeEntry.Xattr], on name: [UInt8]) -> [String] {
        var failures: [String] = []
        let path = FilePath(Array("/proc/self/fd/\(descriptor)/".utf8) + name)
        for xattr in xattrs {
            let result = path.withCString { pathPointer in
                Self.withName(xattr.name) { xattrName in
                    xattr.value.withUnsafeBytes { lsetxattr(pathPointer, xattrName, $0.baseAddress, $0.count, 0) }
                }
            }
            if result != 0, errno != ENOTSUP { failures.append(Self.xattrFailure(xattr)) }
        }
        return failures
    }
}
