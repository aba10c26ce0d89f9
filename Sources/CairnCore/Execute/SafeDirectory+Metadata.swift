import Foundation
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Linux's values (the same on every architecture); Glibc's module leaves out these GNU names.
private let O_PATH: Int32 = 0o10000000
private let AT_EMPTY_PATH: Int32 = 0x1000

/// Setting owner, extended attributes, mode, ACLs and times, always through a descriptor of
/// the object (never a name that could have become a link since it was checked).
extension SafeDirectory {
    /// An entry that is not a folder or a regular file (a link, fifo, device, socket) opened
    /// without following links (`O_PATH`): its metadata is set through this descriptor.
    struct OpenNode {
        let descriptor: Int32
        let info: stat

        var kind: mode_t { info.st_mode & S_IFMT }
        var identity: Identity { Identity(info) }
        /// The object itself for calls that take a path (chmod, setxattr): the kernel resolves
        /// this to the open descriptor's object, never to whatever the name holds now.
        var procPath: String { "/proc/self/fd/\(descriptor)" }

        func close() { _ = Glibc.close(descriptor) }
    }

    /// Opens `name` here as a `OpenNode`, or nil when it is gone.
    func node(_ name: [UInt8]) -> OpenNode? {
        let descriptor = Self.withName(name) { openat(self.descriptor, $0, O_PATH | O_NOFOLLOW | O_CLOEXEC) }
        guard descriptor >= 0 else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            return nil
        }
        return OpenNode(descriptor: descriptor, info: info)
    }

    /// The file type an entry of this kind has on disk.
    static func fileType(_ kind: TreeEntry.Kind) -> mode_t {
        switch kind {
        case .file: S_IFREG
        case .directory: S_IFDIR
        case .symlink: S_IFLNK
        case .fifo: S_IFIFO
        case .characterDevice: S_IFCHR
        case .blockDevice: S_IFBLK
        case .socket: S_IFSOCK
        }
    }

    /// Sets the metadata of a regular file or folder open at `file`.
    ///
    /// `current`, the file's status when nothing else can have changed its owner or mode since
    /// (a file this restore made, which no other user can reach), spares the calls that would
    /// set what it already has: a restore made as root of files owned by root skips a chown per
    /// file, and a file made with its mode skips its chmod.
    static func applyMetadata(_ entry: TreeEntry, toFile file: Int32, permissions: Bool, current: stat? = nil) -> [String] {
        let owned = current.map { $0.st_uid == entry.uid && $0.st_gid == entry.gid } ?? false
        let moded = current.map { owned && $0.st_mode & 0o7777 == mode_t(entry.mode) & 0o7777 } ?? false
        return applyMetadata(
            entry, permissions: permissions,
            owner: { owned ? 0 : fchown(file, entry.uid, entry.gid) },
            xattrs: { xattrs in
                xattrs.compactMap { xattr in
                    let result = withName(xattr.name) { xattrName in
                        xattr.value.withUnsafeBytes { fsetxattr(file, xattrName, $0.baseAddress, $0.count, 0) }
                    }
                    return result != 0 && errno != ENOTSUP ? xattrFailure(xattr) : nil
                }
            },
            mode: { moded ? 0 : fchmod(file, $0) },
            times: { times in times.withUnsafeBufferPointer { futimens(file, $0.baseAddress) } })
    }

    /// Sets the metadata of a node (the kernel has no fchmod or fsetxattr for an `O_PATH`
    /// descriptor: those go through its /proc/self/fd path, which is the object itself).
    static func applyMetadata(_ entry: TreeEntry, toNode node: OpenNode, permissions: Bool) -> [String] {
        applyMetadata(
            entry, permissions: permissions,
            owner: { fchownat(node.descriptor, "", entry.uid, entry.gid, AT_EMPTY_PATH) },
            xattrs: { xattrs in
                xattrs.compactMap { xattr in
                    let result = withName(xattr.name) { xattrName in
                        xattr.value.withUnsafeBytes { setxattr(node.procPath, xattrName, $0.baseAddress, $0.count, 0) }
                    }
                    return result != 0 && errno != ENOTSUP ? xattrFailure(xattr) : nil
                }
            },
            mode: { chmod(node.procPath, $0) },
            times: { times in times.withUnsafeBufferPointer { utimensat(node.descriptor, "", $0.baseAddress, AT_EMPTY_PATH) } })
    }

    /// In the order that keeps each from undoing another; a symbolic link has no mode and no
    /// attributes of its own.
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
}
