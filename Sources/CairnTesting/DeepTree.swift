import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A chain of folders deeper than any path can name (PATH_MAX is 4096 bytes): made, read,
/// compared and removed one level at a time through descriptors (mkdirat, openat), as
/// paths cannot reach its bottom.
public enum DeepTree {
    /// One level: the folder's metadata and the files in it, by name.
    public struct Level {
        public var info: stat
        public var files: [(name: String, info: stat, content: [UInt8])]
    }

    /// Makes `depth` nested folders named `d` in `root`, with a file `f` every `every` levels
    /// and a file `bottom` in the deepest one.
    public static func make(in root: String, depth: Int, every: Int) throws {
        var current = open(root, O_RDONLY | O_DIRECTORY)
        guard current >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        for level in 0..<depth {
            guard mkdirat(current, "d", level % 3 == 0 ? 0o750 : 0o755) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
            let next = openat(current, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            close(current)
            guard next >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
            current = next
            if level % every == 0 { try write("level \(level)", named: "f", in: current) }
        }
        try write("the bottom", named: "bottom", in: current)
        close(current)
    }

    static func write(_ text: String, named name: String, in directory: Int32) throws {
        let file = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard file >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(file, $0.baseAddress, $0.count) }
        close(file)
    }

    /// Calls `body` with each level below `root` (the folder `d` of the level above, its
    /// files), from the top; stops at the first level without `d`.
    public static func walk(_ root: String, _ body: (Int, Level) -> Void) {
        var current = open(root, O_RDONLY | O_DIRECTORY)
        var depth = 0
        while current >= 0 {
            let next = openat(current, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            close(current)
            guard next >= 0 else { return }
            current = next
            var info = stat()
            fstat(current, &info)
            var files: [(String, stat, [UInt8])] = []
            for name in ["bottom", "f"] {
                var fileInfo = stat()
                guard fstatat(current, name, &fileInfo, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let file = openat(current, name, O_RDONLY | O_NOFOLLOW)
                var content = [UInt8](repeating: 0, count: 256)
                let count = file >= 0 ? read(file, &content, content.count) : -1
                if file >= 0 { close(file) }
                files.append((name, fileInfo, Array(content[0..<max(count, 0)])))
            }
            body(depth, Level(info: info, files: files))
            depth += 1
        }
    }

    /// Every difference of type, mode, mtime, files and content between two chains; empty when
    /// they match, and a line when the depths differ.
    public static func differences(_ expected: String, _ actual: String) -> [String] {
        var levels: [Level] = []
        walk(expected) { _, level in levels.append(level) }
        var problems: [String] = []
        var depth = 0
        walk(actual) { index, level in
            depth = index + 1
            guard index < levels.count else { return }
            let want = levels[index]
            if want.info.st_mode != level.info.st_mode { problems.append("level \(index): mode \(String(level.info.st_mode, radix: 8))") }
            if want.info.st_mtim.tv_sec != level.info.st_mtim.tv_sec || want.info.st_mtim.tv_nsec != level.info.st_mtim.tv_nsec {
                problems.append("level \(index): mtime differs")
            }
            if want.files.map(\.name) != level.files.map(\.name) || want.files.map(\.content) != level.files.map(\.content) {
                problems.append("level \(index): files \(level.files.map(\.name)) differ")
            }
            for (one, two) in zip(want.files, level.files) where one.info.st_mode != two.info.st_mode {
                problems.append("level \(index): mode of \(one.name) \(String(two.info.st_mode, radix: 8))")
            }
        }
        if depth != levels.count { problems.append("depth \(depth), expected \(levels.count)") }
        return Array(problems.prefix(20))
    }

    /// Removes `root` and everything in it however deep (`rm` walks by descriptor).
    public static func remove(_ root: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/rm")
        process.arguments = ["-rf", "--", root]
        try? process.run()
        process.waitUntilExit()
    }
}
