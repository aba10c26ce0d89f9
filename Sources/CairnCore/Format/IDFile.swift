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

    private struct State {
        /// The file, once made (nil also when it cannot be: then `failed`).
        var file: ScratchFile?
        var failed = false
        /// How many ids are in the file (the first ones).
        var written = 0
        /// The ids after those.
        var pending: [ObjectID] = []
        /// The CRC-32 of each batch in the file.
        var sums: [UInt32] = []
    }

    private let folder: String
    private let state = Mutex(State())
    static let batch = 4096
    private static let size = MemoryLayout<ObjectID>.size

    init(in folder: String) {
        self.folder = folder
    }

    /// The file, once made (tests damage it).
    var descriptor: Int32? { state.withLock { $0.file?.descriptor } }

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
        let found: (file: ScratchFile?, id: ObjectID?) = state.withLock { state in
            if number < state.written { return (state.file, nil) }
            let index = number - state.written
            return (nil, index < state.pending.count ? state.pending[index] : nil)
        }
        guard let file = found.file else { return found.id }
        var id = ObjectID(words: 0, 0, 0, 0)
        let code = withUnsafeMutableBytes(of: &id) { file.read(into: $0, at: number * Self.size) }
        return code == 0 ? id : nil
    }

    /// Every id, in number order (for a pass over the whole index: verify, prune), each batch
    /// checked against its CRC: an id that cannot be read, or is not as written, is an error.
    func all() throws(Failure) -> [ObjectID] {
        try state.withLock { state throws(Failure) -> [ObjectID] in
            var result = [ObjectID](repeating: ObjectID(words: 0, 0, 0, 0), count: state.written)
            if let file = state.file, state.written > 0 {
                let code = result.withUnsafeMutableBytes { buffer -> Int32 in
                    let code = file.read(into: buffer, at: 0)
                    guard code == 0 else { return code }
                    let batchBytes = Self.batch * Self.size
                    for (number, sum) in state.sums.enumerated() where Self.checksum(UnsafeRawBufferPointer(rebasing: buffer[number * batchBytes..<(number + 1) * batchBytes])) != sum {
                        return -1
                    }
                    return 0
                }
                guard code == 0 else { throw Failure(folder: folder, code: max(code, 0)) }
            }
            return result + state.pending
        }
    }

    private static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(crc32(0, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
    }

    /// Writes the pending batch; where it cannot (no file can be made, a full disk), it and
    /// all that follows stay in memory.
    private func flush(_ state: inout State) {
        precondition(state.pending.count == Self.batch && state.sums.count * Self.batch == state.written, "ids are written a batch at a time")
        if state.file == nil { state.file = try? ScratchFile(in: folder) }
        let written = state.written
        guard let file = state.file, state.pending.withUnsafeBytes({ file.write($0, at: written * Self.size) }) == 0 else {
            state.failed = true
            return
        }
        state.sums.append(state.pending.withUnsafeBytes { Self.checksum($0) })
        state.written += state.pending.count
        state.pending.removeAll(keepingCapacity: true)
    }
}
