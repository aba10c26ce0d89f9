import Foundation
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A file on this machine, gone from its folder as soon as it is made (so nothing is left when
/// the process ends, however it ends), holding bytes written and read back at offsets the
/// caller keeps. On an object store a joined read that had to be given up keeps its objects
/// here instead of reading each of them again, one paid request at a time (the space of bytes
/// that were used is handed back to the file system: a hole is punched, so the file holds at
/// most what is waiting; bytes read back are opened and checked as stored bytes are). The
/// repository index keeps its full ids in one (`IDFile`), a scan its finished folders
/// (`SpillFile`).
final class ScratchFile: @unchecked Sendable {
    /// Why no scratch file could be made: mkstemp's errno.
    struct Unavailable: Error {
        var code: Int32
    }

    /// Internal for tests that damage the file.
    let descriptor: Int32

    /// A scratch file in `folder`, named `prefix` and six random characters until it is
    /// unlinked, at once.
    init(in folder: String, prefix: String = ".scratch-") throws(Unavailable) {
        var template = Array("\(folder)/\(prefix)XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw Unavailable(code: errno) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Writes all of `bytes` at `offset`: 0, or why the file system refused (ENOSPC: a full
    /// disk).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32 {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? ENOSPC : errno }
            done += count
        }
        return 0
    }

    /// `count` bytes at `offset`; nil when they cannot be read whole.
    func read(_ count: Int, at offset: Int) -> [UInt8]? {
        let (bytes, code) = readBytes(count, at: offset)
        return code == 0 ? bytes : nil
    }

    /// `count` bytes at `offset`, read into an array not zeroed first, and 0; or no bytes and why
    /// they could not be read whole (`read(into:at:)`).
    func readBytes(_ count: Int, at offset: Int) -> (bytes: [UInt8], code: Int32) {
        var code: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { room, initialized in
            code = read(into: UnsafeMutableRawBufferPointer(room), at: offset)
            initialized = code == 0 ? count : 0
        }
        return (bytes, code)
    }

    /// Fills `buffer` with the bytes at `offset`: 0, or why it could not (EIO: the file ends
    /// first).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int32 {
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { return got == 0 ? EIO : errno }
            done += got
        }
        return 0
    }

    /// Hands the space of `count` bytes at `offset` back to the file system; false where it
    /// cannot (a file system without hole punching).
    func discard(_ count: Int, at offset: Int) -> Bool {
        cairn_punch_hole(descriptor, Int64(offset), Int64(count)) == 0
    }

    /// Bytes this user may still write on the file's file system; nil when unknown.
    func availableBytes() -> Int? {
        var info = statvfs()
        guard fstatvfs(descriptor, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }
}
