import Foundation
import Synchronization
internal import CZlib

#if canImport(Glibc)
    import Glibc
#endif

/// Object ids kept on this machine's disk rather than in memory, each under the number it was
/// given: the repository index holds 7 bytes of each id and reads the rest from here to confirm
/// a match (a read of 32 bytes from the page cache).
///
/// The file is made in `folder` on the first write and unlinked at once (nothing is left however
/// the process ends); ids are written 4,096 at a time, with a CRC-32 of each batch kept here.
/// Where no file can be made or written (a full disk), the ids stay in memory: it costs memory,
/// never an answer. A read of one id that fails, or an id damaged on disk, only fails to match:
/// the index then says an object is not stored, and a backup stores it again rather than
/// counting on an object it cannot confirm. Reading every id (`all`, for verify and prune, which
/// act on what is not listed) checks each batch against its CRC and throws rather than give an
/// id it cannot vouch for.
final class IDFile: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var folder: String
        var code: Int32

        var description: String {
            code == 0
                ? "the repository index's id file in \(folder) is damaged (a batch read back does not match its checksum)"
                : "cannot read the repository index's id file in \(folder): \(String(cString: strerror(code)))"
        }
    }

    private struct State: ~Copyable {
        /// The file, once made; nil before, or for good once it failed (`failed`).
        var descriptor: Int32?
        var failed = false
        /// How many ids are in the file (the first ones).
        var written = 0
        /// The ids after those.
        var pending: [ObjectID] = []
        /// The CRC-32 of each batch in the file.
        var sums: [UInt32] = []

        deinit { if let descriptor { close(descriptor) } }
    }

    private let folder: String
    private let state: Mutex<State>
    static let batch = 4096

    init(in folder: String) {
        self.folder = folder
        state = Mutex(State())
    }

    /// The file, once made (tests damage it).
    var descriptor: Int32? { state.withLock { $0.descriptor } }

    /// Adds `id`; its number, for `id(at:)`.
    func append(_ id: ObjectID) -> UInt32 {
        state.withLock { state in
            let number = state.written + state.pending.count
            precondition(number < Int(UInt32.max), "more than 4 billion objects in one repository index")
            state.pending.append(id)
            if state.pending.count >= Self.batch, !state.failed { flush(&state) }
            return UInt32(number)
        }
    }

    /// The id numbered `number`, or nil when it cannot be read.
    func id(at number: UInt32) -> ObjectID? {
        let number = Int(number)
        let found: (descriptor: Int32?, id: ObjectID?) = state.withLock { state in
            if number < state.written { return (state.descriptor, nil) }
            let index = number - state.written
            return (nil, index < state.pending.count ? state.pending[index] : nil)
        }
        guard let descriptor = found.descriptor else { return found.id }
        var id = ObjectID(words: 0, 0, 0, 0)
        let size = MemoryLayout<ObjectID>.size
        var got = 0
        repeat {
            got = withUnsafeMutableBytes(of: &id) { pread(descriptor, $0.baseAddress!, size, off_t(number * size)) }
        } while got < 0 && errno == EINTR
        return got == size ? id : nil
    }

    /// Every id, in number order (for a pass over the whole index: verify, prune), each batch
    /// checked against its CRC: an id that cannot be read, or is not as written, is an error.
    func all() throws(Failure) -> [ObjectID] {
        try state.withLock { state throws(Failure) -> [ObjectID] in
            let size = MemoryLayout<ObjectID>.size
            var result = [ObjectID](repeating: ObjectID(words: 0, 0, 0, 0), count: state.written)
            if let descriptor = state.descriptor, state.written > 0 {
                let total = state.written * size
                let code = result.withUnsafeMutableBytes { buffer -> Int32 in
                    var done = 0
                    while done < total {
                        let got = pread(descriptor, buffer.baseAddress! + done, total - done, off_t(done))
                        if got < 0, errno == EINTR { continue }
                        guard got > 0 else { return got == 0 ? EIO : errno }
                        done += got
                    }
                    let batchBytes = Self.batch * size
                    for (number, sum) in state.sums.enumerated() {
                        let start = buffer.baseAddress! + number * batchBytes
                        guard UInt32(crc32(0, start.assumingMemoryBound(to: UInt8.self), uInt(batchBytes))) == sum else { return 0 }
                    }
                    return -1
                }
                guard code == -1 else { throw Failure(folder: folder, code: code) }
            }
            return result + state.pending
        }
    }

    private func flush(_ state: inout State) {
        if state.descriptor == nil {
            var template = Array("\(folder)/.cairn-ids-XXXXXX".utf8CString)
            let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard descriptor >= 0 else {
                state.failed = true
                return
            }
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            state.descriptor = descriptor
        }
        let size = MemoryLayout<ObjectID>.size
        let descriptor = state.descriptor!
        let offset = state.written * size
        precondition(state.pending.count == Self.batch && state.sums.count * Self.batch == state.written, "ids are written a batch at a time")
        let sum = state.pending.withUnsafeBytes { UInt32(crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt($0.count))) }
        let complete = state.pending.withUnsafeBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let count = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        guard complete else {
            // What was written stays readable; the rest, and all that follows, stays here.
            state.failed = true
            return
        }
        state.written += state.pending.count
        state.sums.append(sum)
        state.pending.removeAll(keepingCapacity: true)
    }
}
