import CLinux
import CairnCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a random but reproducible file tree with what backups get wrong: deep folders, names
/// that are not UTF-8 and names that differ only in Unicode normalisation, symbolic and hard
/// links, empty and sparse files, extended attributes, odd modes and old times.
public struct TreeGenerator {
    var random: SeededGenerator
    public let root: String

    public init(root: String, seed: UInt64) {
        self.root = root
        random = SeededGenerator(state: seed)
    }

    static func path(_ bytes: [UInt8]) -> [CChar] { (bytes + [0]).map { CChar(bitPattern: $0) } }

    func write(_ relative: [UInt8], _ data: [UInt8]) throws {
        let full = Array(root.utf8) + [0x2F] + relative
        let descriptor = open(Self.path(full), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        _ = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }

    func makeDirectory(_ relative: [UInt8]) {
        mkdir(Self.path(Array(root.utf8) + [0x2F] + relative), 0o755)
    }

    /// Writes the tree; returns the relative paths of the regular files made.
    @discardableResult
    public mutating func generate(files: Int = 40, depth: Int = 5) throws -> [[UInt8]] {
        mkdir(root, 0o755)
        var made: [[UInt8]] = []
        var directories: [[UInt8]] = [Array("deep".utf8)]
        makeDirectory(directories[0])
        for level in 1..<depth {
            let next = directories.last! + Array("/level\(level)".utf8)
            makeDirectory(next)
            directories.append(next)
        }
        let odd: [[UInt8]] = [
            [0x6E, 0x6F, 0x74, 0x2D, 0xFF, 0xFE, 0x2E, 0x62, 0x69, 0x6E],  // not-\xFF\xFE.bin
            Array("caf\u{E9}.txt".utf8), Array("cafe\u{301}.txt".utf8),  // NFC and NFD
            Array("with space and 'quote'.txt".utf8), Array("-leading-dash".utf8),
        ]
        for name in odd {
            try write(name, random.bytes(random.below(2000)))
            made.append(name)
        }
        for number in 0..<files {
            let folder = directories[random.below(directories.count)]
            let name = folder + Array("/file\(number).dat".utf8)
            let size = [0, 1, 100, 4096, 70_000, 600_000, 1_500_000][random.below(7)]
            try write(name, random.bytes(size))
            made.append(name)
        }
        try write(Array("empty".utf8), [])
        made.append(Array("empty".utf8))
        // A sparse file: 8 MB with two islands of data.
        let sparse = Array(root.utf8) + Array("/sparse.img".utf8)
        let descriptor = open(Self.path(sparse), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = ftruncate(descriptor, 8 << 20)
        _ = random.bytes(5000).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 3 << 20) }
        _ = random.bytes(100).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, (8 << 20) - 100) }
        close(descriptor)
        made.append(Array("sparse.img".utf8))
        symlink("deep/level1", root + "/link-to-dir")
        symlink("/nonexistent/target", root + "/dangling")
        link(root + "/empty", root + "/empty-hardlink")
        try write(Array("linked.txt".utf8), Array("two names, one file\n".utf8))
        link(root + "/linked.txt", root + "/deep/linked-again.txt")
        mkfifo(root + "/pipe", 0o640)
        chmod(root + "/deep/level1", 0o750)
        try write(Array("private.key".utf8), Array("not really".utf8))
        chmod(root + "/private.key", 0o600)
        try write(Array("script.sh".utf8), Array("#!/bin/sh\necho hi\n".utf8))
        chmod(root + "/script.sh", 0o4755)
        let note = Array("a note".utf8)
        _ = note.withUnsafeBytes { setxattr(root + "/script.sh", "user.cairn.note", $0.baseAddress, $0.count, 0) }
        // A POSIX ACL (user 1000 may read), in the kernel's xattr form.
        try write(Array("shared.txt".utf8), Array("shared".utf8))
        var acl: [UInt8] = [2, 0, 0, 0]
        for (tag, permissions, id) in [(1, 6, UInt32.max), (2, 4, 1000), (4, 4, UInt32.max), (0x10, 4, UInt32.max), (0x20, 4, UInt32.max)] as [(UInt16, UInt16, UInt32)] {
            withUnsafeBytes(of: tag.littleEndian) { acl += $0 }
            withUnsafeBytes(of: permissions.littleEndian) { acl += $0 }
            withUnsafeBytes(of: id.littleEndian) { acl += $0 }
        }
        _ = acl.withUnsafeBytes { setxattr(root + "/shared.txt", "system.posix_acl_access", $0.baseAddress, $0.count, 0) }
        // Old and precise times.
        var times = [timespec(tv_sec: 86_400 * 365, tv_nsec: 123_456_789), timespec(tv_sec: 86_400 * 365, tv_nsec: 123_456_789)]
        utimensat(AT_FDCWD, root + "/empty", &times, AT_SYMLINK_NOFOLLOW)
        return made
    }
}

extension TreeGenerator {
    /// Sets an extended attribute of `path` (not following a link); false when it cannot.
    @discardableResult
    public static func setAttribute(_ path: String, _ name: String, _ value: [UInt8]) -> Bool {
        value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, 0) } == 0
    }
}
