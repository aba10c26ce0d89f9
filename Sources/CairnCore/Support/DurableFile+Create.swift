import Foundation

extension DurableFile {
    /// Why a new file was not created.
    public enum CreateFailure: Error, Equatable, CustomStringConvertible {
        /// Something is at the path already; it was left as it was.
        case exists(String)
        case failed(String)

        public var description: String {
            switch self {
            case .exists(let path): return "\(path) exists already"
            case .failed(let reason): return reason
            }
        }
    }

    /// Writes a new file at `path` and never replaces one: after a crash the path holds the
    /// whole file or nothing. The data goes to a temporary name of its own beside it, is
    /// flushed, and is then linked to `path`, which fails when anything is there (created
    /// exclusively, as O_CREAT|O_EXCL does); then the folder is flushed. Where the file system
    /// has no hard links, the file is created with O_CREAT|O_EXCL and written in place.
    /// `mode`: the file's permissions whatever the umask (a key file's 0600); nil: 0666 less
    /// the umask, as editors create files. The folder is made when missing.
    public static func create(_ data: Data, at path: String, mode: mode_t? = nil) throws(CreateFailure) {
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot create the folder \(folder): \(error.localizedDescription)")
        }
        var info = stat()
        if lstat(path, &info) == 0 { throw .exists(path) }
        let permissions = mode ?? 0o666
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 where descriptor < 0 {
            temporary = "\(folder)/.\((path as NSString).lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
            if descriptor < 0 && errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw .failed(reason("create", temporary)) }
        guard fill(descriptor, data, mode: mode) else {
            let failure = reason("write", temporary)
            close(descriptor)
            unlink(temporary)
            throw .failed(failure)
        }
        close(descriptor)
        if link(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            if code == EEXIST { throw .exists(path) }
            guard [EPERM, EOPNOTSUPP, ENOSYS, EMLINK].contains(code) else {
                errno = code
                throw .failed(reason("create", path))
            }
            try createInPlace(data, at: path, mode: mode)
        } else {
            unlink(temporary)
        }
        syncFolder(folder)
    }

    /// O_CREAT|O_EXCL at the path itself, for file systems without hard links (FAT, some
    /// network shares): a crash while writing may leave a short file.
    private static func createInPlace(_ data: Data, at path: String, mode: mode_t?) throws(CreateFailure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode ?? 0o666)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw .exists(path) }
            throw .failed(reason("create", path))
        }
        guard fill(descriptor, data, mode: mode) else {
            let failure = reason("write", path)
            close(descriptor)
            unlink(path)
            throw .failed(failure)
        }
        close(descriptor)
    }

    /// Writes all of `data`, sets `mode` and flushes; false on failure (errno says why).
    private static func fill(_ descriptor: Int32, _ data: Data, mode: mode_t?) -> Bool {
        let written = writeAll(descriptor, data)
        if let mode, fchmod(descriptor, mode) != 0 { return false }
        return written && fsync(descriptor) == 0
    }

    static func syncFolder(_ folder: String) {
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    private static func reason(_ what: String, _ path: String) -> String {
        "cannot \(what) \(path): \(String(cString: strerror(errno)))"
    }
}
