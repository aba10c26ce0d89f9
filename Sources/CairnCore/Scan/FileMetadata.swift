import Foundation
import Synchronization

internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Reading an entry's metadata the way a backup records it.
public enum FileMetadata {
    public struct Failure: Error, CustomStringConvertible {
        public var path: FilePath
        public var operation: String
        public var code: Int32

        public var description: String { "\(path): \(operation): \(String(cString: strerror(code)))" }
    }

    static func lstat(_ path: FilePath) throws -> Glibc.stat {
        var info = Glibc.stat()
        let result = path.withCString { Glibc.lstat($0, &info) }
        guard result == 0 else { throw Failure(path: path, operation: "lstat", code: errno) }
        return info
    }

    /// The metadata of what a symbolic link points to (`follow-symlinks: true`).
    static func statFollowingLinks(_ path: FilePath) throws -> Glibc.stat {
        var info = Glibc.stat()
        let result = path.withCString { posixStat($0, &info) }
        guard result == 0 else { throw Failure(path: path, operation: "stat", code: errno) }
        return info
    }

    /// The metadata of the entry `name` of the folder open as `folder` (or of `path`, when no
    /// folder is open): the kernel then looks up one name, not every folder of the path
    /// again, and it is the entry in the folder that was listed, even if the folder was moved
    /// since. `follow` reads what a symbolic link points to. A path too long for the
    /// kernel fails by its path in both cases: what a scan records must not depend on whether
    /// the folder could be held open.
    static func lstat(_ name: [UInt8], in folder: Int32?, path: FilePath, follow: Bool = false) throws -> Glibc.stat {
        guard let folder, path.bytes.count < PATH_MAX else { return try follow ? statFollowingLinks(path) : lstat(path) }
        var info = Glibc.stat()
        let result = withCName(name) { fstatat(folder, $0, &info, follow ? 0 : AT_SYMLINK_NOFOLLOW) }
        guard result == 0 else { throw Failure(path: path, operation: follow ? "stat" : "lstat", code: errno) }
        return info
    }

    /// `readLink`, of the entry `name` of the folder open as `folder` when there is one.
    static func readLink(_ name: [UInt8], in folder: Int32?, path: FilePath) throws -> [UInt8] {
        guard let folder, path.bytes.count < PATH_MAX else { return try readLink(path) }
        return try readLink(path) { buffer, size in withCName(name) { readlinkat(folder, $0, buffer, size) } }
    }

    /// The target `read` puts in a buffer of 4096 bytes (readlink or readlinkat).
    private static func readLink(_ path: FilePath, _ read: (UnsafeMutablePointer<CChar>, Int) -> Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { read(UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count) }
        guard count >= 0 else { throw Failure(path: path, operation: "readlink", code: errno) }
        return Array(buffer[0..<count])
    }

    /// `name` with a NUL after it, on the stack (names from a listing have no NUL).
    private static func withCName<Result>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: name.count + 1) { buffer in
            name.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            buffer[name.count] = 0
            return body(buffer.baseAddress!)
        }
    }

    static func kind(of mode: mode_t) -> TreeEntry.Kind? {
        switch mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFIFO: return .fifo
        case S_IFSOCK: return .socket
        case S_IFCHR: return .characterDevice
        case S_IFBLK: return .blockDevice
        default: return nil
        }
    }

    /// A tree entry filled from `info`; content, subtree and xattrs are left to the caller.
    static func entry(name: [UInt8], info: Glibc.stat, names: NameCache) -> TreeEntry? {
        guard let kind = kind(of: info.st_mode) else { return nil }
        var entry = TreeEntry(name: name, kind: kind)
        entry.mode = UInt32(info.st_mode & 0o7777)
        entry.uid = info.st_uid
        entry.gid = info.st_gid
        entry.user = names.user(info.st_uid)
        entry.group = names.group(info.st_gid)
        entry.size = kind == .file || kind == .symlink ? UInt64(info.st_size) : 0
        entry.mtime = Timestamp(info.st_mtim)
        entry.ctime = Timestamp(info.st_ctim)
        entry.inode = UInt64(info.st_ino)
        entry.device = UInt64(info.st_dev)
        entry.links = UInt64(info.st_nlink)
        entry.rdev = kind == .characterDevice || kind == .blockDevice ? UInt64(info.st_rdev) : 0
        return entry
    }

    public static func readLink(_ path: FilePath) throws -> [UInt8] {
        try readLink(path) { buffer, size in path.withCString { readlink($0, buffer, size) } }
    }

    /// The entry's extended attributes (POSIX ACLs among them), sorted by name, without
    /// following a symbolic link. A file system without xattrs gives none.
    public static func xattrs(_ path: FilePath) throws -> [TreeEntry.Xattr] {
        var size = path.withCString { llistxattr($0, nil, 0) }
        if size < 0 {
            if errno == ENOTSUP || errno == ENOSYS { return [] }
            throw Failure(path: path, operation: "llistxattr", code: errno)
        }
        guard size > 0 else { return [] }
        var names = [UInt8](repeating: 0, count: size)
        size = path.withCString { pointer in
            names.withUnsafeMutableBufferPointer { llistxattr(pointer, UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard size >= 0 else { throw Failure(path: path, operation: "llistxattr", code: errno) }
        var result: [TreeEntry.Xattr] = []
        for name in names[0..<size].split(separator: 0).map(Array.init) where !name.isEmpty {
            let cName = name + [0]
            let valueSize = path.withCString { pointer in cName.withUnsafeBufferPointer { lgetxattr(pointer, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), nil, 0) } }
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: valueSize)
            let got = path.withCString { pointer in
                cName.withUnsafeBufferPointer { namePointer in
                    value.withUnsafeMutableBufferPointer {
                        lgetxattr(pointer, UnsafeRawPointer(namePointer.baseAddress!).assumingMemoryBound(to: CChar.self), $0.baseAddress, $0.count)
                    }
                }
            }
            guard got >= 0 else { continue }
            result.append(TreeEntry.Xattr(name: name, value: Array(value[0..<got])))
        }
        return result.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// The names in a directory, without `.` and `..`.
    public static func list(_ path: FilePath) throws -> [[UInt8]] {
        try list(path, keepOpen: false).names
    }

    /// The names in a directory, without `.` and `..`, and with `keepOpen` the directory
    /// still open (a descriptor for `lstat(_:in:path:)`, the caller's to close).
    static func list(_ path: FilePath, keepOpen: Bool) throws -> (names: [[UInt8]], folder: Int32?) {
        let folder = path.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK) }
        guard folder >= 0 else { throw Failure(path: path, operation: "opendir", code: errno) }
        let listed = keepOpen ? fcntl(folder, F_DUPFD_CLOEXEC, 0) : folder
        guard listed >= 0, let stream = fdopendir(listed) else {
            let code = errno
            if listed >= 0 { close(listed) }
            if keepOpen { close(folder) }
            throw Failure(path: path, operation: "opendir", code: code)
        }
        do {
            let names = try list(stream, path: path)
            closedir(stream)
            return (names, keepOpen ? folder : nil)
        } catch {
            closedir(stream)
            if keepOpen { close(folder) }
            throw error
        }
    }

    private static func list(_ stream: OpaquePointer, path: FilePath) throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        while true {
            let next: UnsafeMutablePointer<dirent>?
            switch nextDirectoryEntry(stream) {
            case .success(let entry): next = entry
            case .failure(let failure): throw Failure(path: path, operation: "readdir", code: failure.code)
            }
            guard let entry = next else { break }
            let name = directoryEntryName(entry)
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }
}

/// The next entry of a directory stream, nil at its end, or the errno of a read that failed
/// (EIO, a network file system gone): `readdir` ends the same way for both, and a listing cut
/// short would make the entries not read look removed.
public func nextDirectoryEntry(_ stream: OpaquePointer) -> Result<UnsafeMutablePointer<dirent>?, DirectoryReadError> {
    errno = 0
    if let entry = readdir(stream) { return .success(entry) }
    return errno == 0 ? .success(nil) : .failure(DirectoryReadError(code: errno))
}

public struct DirectoryReadError: Error {
    public let code: Int32
}

/// The name of an entry `readdir` returned, read in place: an entry takes only the bytes its
/// name needs, so copying the whole `d_name` field (256 bytes) can read past the end of the
/// directory's buffer, into memory that is not mapped.
public func directoryEntryName(_ entry: UnsafeMutablePointer<dirent>) -> [UInt8] {
    let name = UnsafeRawPointer(entry).advanced(by: MemoryLayout<dirent>.offset(of: \dirent.d_name)!).assumingMemoryBound(to: CChar.self)
    return Array(UnsafeRawBufferPointer(start: name, count: strlen(name)))
}

/// User and group names by id, looked up once each, for all of a scan's walkers (so every
/// entry of one owner gets the same name, whatever the name service says later on).
final class NameCache: Sendable {
    private struct Key: Hashable {
        var isGroup: Bool
        var id: UInt32
    }
    /// Held while looking up: getpwuid and getgrgid return static storage.
    private let names = Mutex<[Key: String]>([:])

    func user(_ id: uid_t) -> String { name(Key(isGroup: false, id: id)) { getpwuid(id)?.pointee.pw_name } }

    func group(_ id: gid_t) -> String { name(Key(isGroup: true, id: id)) { getgrgid(id)?.pointee.gr_name } }

    private func name(_ key: Key, lookup: () -> UnsafeMutablePointer<CChar>?) -> String {
        names.withLock { names in
            if let name = names[key] { return name }
            let name = lookup().map { String(cString: $0) } ?? ""
            names[key] = name
            return name
        }
    }
}

private func posixStat(_ path: UnsafePointer<CChar>, _ info: UnsafeMutablePointer<Glibc.stat>) -> Int32 {
    stat(path, info)
}
