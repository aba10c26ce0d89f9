import CLinux
import CairnCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Compares two trees entry by entry: names (as bytes), types, contents, symbolic link targets,
/// modes, modification times to the nanosecond, extended attributes and hard-link groups.
public enum TreeComparison {
    /// Every difference, as lines for a test failure; empty when the trees match.
    public static func differences(_ expected: String, _ actual: String, permissions: Bool = true) -> [String] {
        var problems: [String] = []
        var links: [String: [UInt8]] = [:]
        compare(Array(expected.utf8), Array(actual.utf8), relative: [], permissions: permissions, into: &problems, links: &links)
        return problems
    }

    static func cPath(_ bytes: [UInt8]) -> [CChar] { (bytes + [0]).map { CChar(bitPattern: $0) } }

    static func names(_ path: [UInt8]) -> [[UInt8]] {
        guard let stream = opendir(cPath(path)) else { return [] }
        defer { closedir(stream) }
        var result: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = directoryEntryName(entry)
            if name != [0x2E] && name != [0x2E, 0x2E] { result.append(name) }
        }
        return result.sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func contents(_ path: [UInt8]) -> [UInt8]? {
        FileManager.default.contents(atPath: String(decoding: path, as: UTF8.self)).map(Array.init) ?? {
            let descriptor = open(cPath(path), O_RDONLY)
            guard descriptor >= 0 else { return nil }
            defer { close(descriptor) }
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count <= 0 { break }
                result += buffer[0..<count]
            }
            return result
        }()
    }

    /// Sets an extended attribute (not following a symlink); false when it cannot be set.
    public static func setXattr(_ path: String, _ name: String, _ value: [UInt8]) -> Bool {
        value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, 0) } == 0
    }

    public static func xattrs(_ path: [UInt8]) -> [String: [UInt8]] {
        var names = [CChar](repeating: 0, count: 4096)
        let size = llistxattr(cPath(path), &names, names.count)
        guard size > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for name in names[0..<size].split(separator: 0) {
            let key = String(decoding: name.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var value = [UInt8](repeating: 0, count: 65536)
            let count = lgetxattr(cPath(path), key, &value, value.count)
            if count >= 0 { result[key] = Array(value[0..<count]) }
        }
        return result
    }

    private static func compare(
        _ expectedRoot: [UInt8], _ actualRoot: [UInt8], relative: [UInt8], permissions: Bool, into problems: inout [String],
        links: inout [String: [UInt8]]
    ) {
        let expectedPath = relative.isEmpty ? expectedRoot : expectedRoot + [0x2F] + relative
        let actualPath = relative.isEmpty ? actualRoot : actualRoot + [0x2F] + relative
        let shown = relative.isEmpty ? "." : String(decoding: relative, as: UTF8.self)
        var e = stat(), a = stat()
        guard lstat(cPath(expectedPath), &e) == 0 else { return }
        guard lstat(cPath(actualPath), &a) == 0 else {
            problems.append("\(shown): missing")
            return
        }
        guard e.st_mode & S_IFMT == a.st_mode & S_IFMT else {
            problems.append("\(shown): type differs")
            return
        }
        let kind = e.st_mode & S_IFMT
        if permissions, kind != S_IFLNK, e.st_mode & 0o7777 != a.st_mode & 0o7777 {
            problems.append("\(shown): mode \(String(e.st_mode & 0o7777, radix: 8)) became \(String(a.st_mode & 0o7777, radix: 8))")
        }
        if !relative.isEmpty, e.st_mtim.tv_sec != a.st_mtim.tv_sec || e.st_mtim.tv_nsec != a.st_mtim.tv_nsec {
            problems.append("\(shown): mtime \(e.st_mtim.tv_sec).\(e.st_mtim.tv_nsec) became \(a.st_mtim.tv_sec).\(a.st_mtim.tv_nsec)")
        }
        if permissions, kind != S_IFLNK, xattrs(expectedPath) != xattrs(actualPath) {
            problems.append("\(shown): extended attributes differ")
        }
        switch kind {
        case S_IFREG:
            if contents(expectedPath) != contents(actualPath) { problems.append("\(shown): content differs") }
            if e.st_nlink > 1 {
                let key = "\(e.st_dev):\(e.st_ino)"
                if let first = links[key] {
                    var firstActual = stat()
                    lstat(cPath(actualRoot + [0x2F] + first), &firstActual)
                    if firstActual.st_ino != a.st_ino { problems.append("\(shown): no longer a hard link of \(String(decoding: first, as: UTF8.self))") }
                } else {
                    links[key] = relative
                }
            }
        case S_IFLNK:
            var one = [CChar](repeating: 0, count: 4096), two = [CChar](repeating: 0, count: 4096)
            let n1 = readlink(cPath(expectedPath), &one, one.count), n2 = readlink(cPath(actualPath), &two, two.count)
            if Array(one[0..<max(n1, 0)]) != Array(two[0..<max(n2, 0)]) { problems.append("\(shown): link target differs") }
        case S_IFDIR:
            let expectedNames = names(expectedPath), actualNames = names(actualPath)
            for extra in Set(actualNames).subtracting(expectedNames) {
                problems.append("\(relative.isEmpty ? "" : shown + "/")\(String(decoding: extra, as: UTF8.self)): not expected")
            }
            for name in expectedNames {
                compare(expectedRoot, actualRoot, relative: relative.isEmpty ? name : relative + [0x2F] + name, permissions: permissions, into: &problems, links: &links)
            }
        default:
            break
        }
    }
}
