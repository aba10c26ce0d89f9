import Foundation

/// Small files of run state written so that a crash leaves the old version or the new one,
/// never a part: a temporary file beside it, flushed, renamed over it, and its folder flushed.
public enum DurableFile {
    /// `mode`: the file's permissions (run state is the user's own; a metrics file is read by
    /// node_exporter).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        try write(to: path, mode: mode) { put in try put(data) }
    }

    /// The same, for a file written in pieces: `fill` hands each piece to the function it is
    /// given (a saved plan of a million files is never held whole). Nothing is at `path` until
    /// every piece is written and flushed; a failure leaves what was there before.
    public static func write(to path: String, mode: mode_t = 0o600, _ fill: ((Data) throws -> Void) throws -> Void) throws {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A new name of its own (never a file or link someone placed there), then renamed.
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 where descriptor < 0 {
            temporary = "\(folder)/.\((path as NSString).lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if descriptor < 0 && errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw failure("create", temporary) }
        func put(_ data: Data) throws {
            guard writeAll(descriptor, data) else { throw failure("write", temporary) }
        }
        do {
            try fill(put)
            // The mode as asked, whatever the umask.
            guard fchmod(descriptor, mode) == 0, fsync(descriptor) == 0 else { throw failure("write", temporary) }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = failure("rename", path)
            unlink(temporary)
            throw error
        }
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// Writes all of `data` (again after EINTR and short writes); false on failure (errno says
    /// why).
    static func writeAll(_ descriptor: Int32, _ data: Data) -> Bool {
        var done = 0
        return data.withUnsafeBytes { bytes -> Bool in
            while done < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if count < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += count
            }
            return true
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private static func failure(_ what: String, _ path: String) -> Failure {
        Failure(description: "cannot \(what) \(path): \(String(cString: strerror(errno)))")
    }
}
