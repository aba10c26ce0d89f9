import Foundation
import Synchronization
internal import CZlib

#if canImport(Glibc)
    import Glibc
#endif

/// Bytes written once and read back later from this machine's disk rather than kept in memory:
/// a scan keeps each finished folder's entries here (`ScannedDirectory`), so a tree of a million
/// files is not held whole. The file is unlinked as soon as it is made (nothing is left however
/// the process ends); writes are gathered in a buffer of `bufferSize` and what is still in it is
/// read from it. Each piece carries a CRC-32 of its bytes, checked when it is read back: a
/// damaged spill file is an error, never a wrong snapshot. Where no file can be made, or once it cannot be written (a full disk), what
/// comes next stays in memory, as before (`failure` says why, for a warning): a small /tmp
/// costs memory, never the backup.
final class SpillFile: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var folder: String
        var code: Int32
        var what = "the scan's spill file"

        var description: String {
            code == 0
                ? "\(what) in \(folder) is damaged (a piece read back does not match its checksum)"
                : "cannot \(operation) \(what) in \(folder): \(String(cString: strerror(code)))"
        }
    }

    /// Where a piece of bytes went.
    struct Place: Sendable, Hashable {
        var offset: Int
        var count: Int
    }

    private struct State {
        /// The bytes after `written`, not yet in the file.
        var buffer: [UInt8] = []
        var written = 0
        var failure: Failure?
    }

    /// The file, nil when none could be made.
    private let file: ScratchFile?
    /// Internal for tests that damage the file.
    var descriptor: Int32? { file?.descriptor }
    private let folder: String
    /// What it holds, for errors: `the scan's spill file`.
    private let what: String
    private let state = Mutex(State())
    static let bufferSize = 1 << 20

    /// A spill file in `folder`.
    init(in folder: String, what: String = "the scan's spill file") {
        self.folder = folder
        self.what = what
        do {
            file = try ScratchFile(in: folder, prefix: ".cairn-spill-")
            madeError = 0
        } catch {
            file = nil
            madeError = error.code
        }
    }

    /// Why the file is not used (it could not be made or written), or nil.
    var failure: Failure? {
        if file == nil { return Failure(operation: "make", folder: folder, code: madeError, what: what) }
        return state.withLock { $0.failure }
    }
    private let madeError: Int32

    /// Appends `bytes` and their checksum; where they are, for `read`.
    func append(_ bytes: [UInt8]) -> Place { append(parts: [bytes]) }

    /// Appends `parts` one after the other as one piece (read back whole), without joining
    /// them first: a folder of 100,000 entries is not copied to be spilled. A piece larger than
    /// the buffer goes to the file from where it is, the buffer written first.
    func append(parts: [[UInt8]]) -> Place {
        var sum = UInt32(crc32(0, nil, 0))
        for part in parts {
            sum = part.withUnsafeBufferPointer { UInt32(crc32(uLong(sum), $0.baseAddress, uInt($0.count))) }
        }
        let trailer = withUnsafeBytes(of: sum.littleEndian) { Array($0) }
        let count = parts.reduce(4) { $0 + $1.count }
        return state.withLock { state -> Place in
            let place = Place(offset: state.written + state.buffer.count, count: count)
            if let file, state.failure == nil, count >= Self.bufferSize {
                do throws(Failure) {
                    try write(state.buffer, at: state.written, to: file)
                    state.written += state.buffer.count
                    state.buffer.removeAll(keepingCapacity: true)
                    for part in parts + [trailer] {
                        try write(part, at: state.written, to: file)
                        state.written += part.count
                    }
                    return place
                } catch {
                    // What did not reach the file stays in memory: the buffer, then this piece
                    // whole (a part written before the failure is written again).
                    state.failure = error
                    let kept = Place(offset: state.written + state.buffer.count, count: count)
                    for part in parts + [trailer] { state.buffer += part }
                    return kept
                }
            }
            for part in parts { state.buffer += part }
            state.buffer += trailer
            if let file, state.failure == nil, state.buffer.count >= Self.bufferSize {
                do throws(Failure) {
                    try write(state.buffer, at: state.written, to: file)
                    state.written += state.buffer.count
                    state.buffer.removeAll(keepingCapacity: true)
                } catch {
                    state.failure = error
                }
            }
            return place
        }
    }

    /// The bytes appended at `place`, checked against their checksum.
    func read(_ place: Place) throws(Failure) -> [UInt8] {
        var bytes = try readRaw(place)
        guard bytes.count >= 4 else { throw Failure(operation: "read", folder: folder, code: 0, what: what) }
        let stored = bytes.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        bytes.removeLast(4)
        guard Self.checksum(bytes) == stored else { throw Failure(operation: "read", folder: folder, code: 0, what: what) }
        return bytes
    }

    private static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    private func readRaw(_ place: Place) throws(Failure) -> [UInt8] {
        let (inFile, buffered) = state.withLock { state -> (Int, [UInt8]) in
            let inFile = max(0, min(place.count, state.written - place.offset))
            let start = place.offset + inFile - state.written
            return (inFile, inFile < place.count ? Array(state.buffer[start..<start + place.count - inFile]) : [])
        }
        guard inFile > 0, let file else { return buffered }
        // Read by the scratch file (into an array not zeroed first), the part still in the
        // buffer after it (a piece only rarely straddles the two).
        var (bytes, code) = file.readBytes(inFile, at: place.offset)
        guard code == 0 else { throw Failure(operation: "read", folder: folder, code: code, what: what) }
        bytes += buffered
        return bytes
    }

    private func write(_ bytes: [UInt8], at offset: Int, to file: ScratchFile) throws(Failure) {
        let code = bytes.withUnsafeBytes { file.write($0, at: offset) }
        guard code == 0 else { throw Failure(operation: "write", folder: folder, code: code, what: what) }
    }
}
