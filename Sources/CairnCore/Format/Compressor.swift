import Foundation
internal import CZlib
internal import CZstd

/// Compresses object payloads. Each compressed payload records its method, so a repository can
/// mix methods (a set's `compression:` may change) and incompressible pieces stay as they are.
public struct Compressor: Sendable {
    /// How a stored payload is compressed: the first byte of every object's plaintext.
    public enum Method: UInt8, Sendable {
        case none = 0
        case zstd = 1
        case zlib = 2
    }

    public let setting: Compression

    public init(_ setting: Compression) {
        self.setting = setting
    }

    /// The payload compressed by the set's method, or kept as it is when compression would not
    /// save at least 1/256 of it; returns the method used.
    /// `pieceSize`: the size of the piece `data` stands for, when it is a sample of one (the
    /// default level depends on it).
    public func compress(_ data: [UInt8], pieceSize: Int? = nil) throws -> (method: Method, payload: [UInt8]) {
        var method = Method.none
        let payload = try BufferPool.shared.make(count: data.count) { output in
            guard let compressed = try compress(data, into: output, pieceSize: pieceSize) else { return 0 }
            method = compressed.method
            return compressed.count
        }
        guard method != .none else {
            BufferPool.shared.recycle(consume payload)
            return (.none, data)
        }
        return (method, payload)
    }

    /// Compresses `data` into `output` by the set's method; nil when that would not save at
    /// least 1/256 of it (or does not fit `output`), so the data is better stored as it is.
    /// Room for `data.count` bytes is enough: a larger result is never kept.
    func compress(_ data: [UInt8], into output: UnsafeMutableBufferPointer<UInt8>, pieceSize: Int? = nil) throws -> (method: Method, count: Int)? {
        guard data.count >= 64, setting.algorithm != .none else { return nil }
        // Random-looking data (already compressed media, encrypted files) is common and costs
        // as much to try as text: a fast look at a sample decides whether to try at all.
        if data.count >= 256 << 10, try Self.looksIncompressible(data) { return nil }
        let room = UnsafeMutableBufferPointer(rebasing: output[0..<min(output.count, data.count - data.count / 256)])
        let written: Int?
        let method: Method
        switch setting.algorithm {
        case .none: return nil
        case .zstd:
            written = try Self.zstdCompress(data, level: setting.level ?? Self.defaultZstdLevel(size: pieceSize ?? data.count), into: room)
            method = .zstd
        case .zlib:
            written = try Self.zlibCompress(data, level: setting.level ?? 6, into: room)
            method = .zlib
        }
        guard let written, written < data.count - data.count / 256 else { return nil }
        return (method, written)
    }

    /// zstd's level when the set names none: 3 for pieces up to 256 KiB (small files, trees),
    /// 2 for larger ones (the chunks of larger files). zstd picks its parameters by level and
    /// size: past 256 KiB, level 3's tables (768 KiB) outgrow a core's cache, and level 2
    /// compressed executables and libraries 1.3-1.4x faster for 2.5-5% more; a backup of /usr
    /// took 15 s instead of 20, its repository 2.6% larger. On pieces of a few KiB level 2 is
    /// no faster than 3, and stores 6% more; level 4 there is another strategy (greedy) at half
    /// the speed (docs/BENCHMARKS.md).
    static func defaultZstdLevel(size: Int) -> Int {
        size > largePiece ? 2 : 3
    }

    /// The size past which a piece is large, for the default level.
    static let largePiece = 256 << 10

    /// Decompresses a payload to exactly `originalSize` bytes; anything else is damage.
    public static func decompress(_ payload: [UInt8], method: Method, originalSize: Int) throws -> [UInt8] {
        if method == .none {
            guard payload.count == originalSize else { throw CompressionError.sizeMismatch }
            return payload
        }
        return try decompress(payload[...], method: method, originalSize: originalSize)
    }

    /// The same for part of an array (an object's body after its header).
    static func decompress(_ payload: ArraySlice<UInt8>, method: Method, originalSize: Int) throws -> [UInt8] {
        switch method {
        case .none:
            guard payload.count == originalSize else { throw CompressionError.sizeMismatch }
            return payload.withUnsafeBufferPointer { BufferPool.shared.copy($0) }
        case .zstd: return try zstdDecompress(payload, originalSize: originalSize)
        case .zlib: return try zlibDecompress(Array(payload), originalSize: originalSize)
        }
    }

    /// Whether samples of 4 KiB taken every 1/16 of `data` all save less than 1/32 at zstd's
    /// fastest level. A chunk that is random-looking only in parts is still compressed: the
    /// benchmark's large file, text with random patches of 176 KiB written over it, had 19 of
    /// 440 chunks (25 MB) of text stored as they were when three samples of 32 KiB decided.
    static func looksIncompressible(_ data: [UInt8]) throws -> Bool {
        let sampleSize = 4 << 10, samples = 16
        let step = (data.count - sampleSize) / (samples - 1)
        // A sample saves enough when its result fits in 31/32 of its size.
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: sampleSize - sampleSize / 32) { output in
            for index in 0..<samples {
                let start = index * step
                if try zstdCompress(Array(data[start..<start + sampleSize]), level: 1, into: output) != nil { return false }
            }
            return true
        }
    }

    /// The bytes zstd wrote into `output`, or nil when its result does not fit.
    static func zstdCompress(_ data: [UInt8], level: Int, into output: UnsafeMutableBufferPointer<UInt8>) throws -> Int? {
        // A piece up to 256 KiB (a small file, a tree) in a context whose room is fixed; the
        // others in one that grows and shrinks with what it compresses.
        if data.count <= ZstdContexts.fixedRoomSize, let fixed = ZstdContexts.shared.takeFixed(level: level) {
            defer { ZstdContexts.shared.give(fixed) }
            let written = zstdCompress(data, level: level, into: output, context: fixed.context)
            // Room too small would be zstd sizing differently from its estimate: then as below.
            if ZSTD_isError(written) == 0 || ZSTD_getErrorCode(written) != ZSTD_error_memory_allocation {
                return try zstdResult(written)
            }
        }
        let context = ZstdContexts.shared.takeCompressor()
        defer { ZstdContexts.shared.give(compressor: context) }
        return try zstdResult(zstdCompress(data, level: level, into: output, context: context))
    }

    private static func zstdCompress(_ data: [UInt8], level: Int, into output: UnsafeMutableBufferPointer<UInt8>, context: OpaquePointer) -> Int {
        data.withUnsafeBytes { input in
            ZSTD_compressCCtx(context, output.baseAddress, output.count, input.baseAddress, input.count, Int32(level))
        }
    }

    /// The bytes written, nil when they did not fit, or the failure zstd reported.
    private static func zstdResult(_ written: Int) throws -> Int? {
        if ZSTD_isError(written) != 0 {
            if ZSTD_getErrorCode(written) == ZSTD_error_dstSize_tooSmall { return nil }
            throw CompressionError.failed("zstd: " + String(cString: ZSTD_getErrorName(written)))
        }
        return written
    }

    static func zstdDecompress(_ payload: ArraySlice<UInt8>, originalSize: Int) throws -> [UInt8] {
        let context = ZstdContexts.shared.takeDecompressor()
        defer { ZstdContexts.shared.give(decompressor: context) }
        var written = 0
        let output = try BufferPool.shared.make(count: max(originalSize, 1)) { buffer in
            written = payload.withUnsafeBytes { input in
                ZSTD_decompressDCtx(context, buffer.baseAddress, originalSize, input.baseAddress, input.count)
            }
            return ZSTD_isError(written) == 0 && written == originalSize ? originalSize : 0
        }
        guard ZSTD_isError(written) == 0, written == originalSize else { throw CompressionError.sizeMismatch }
        return output
    }

    /// The bytes zlib wrote into `output`, or nil when its result does not fit.
    static func zlibCompress(_ data: [UInt8], level: Int, into output: UnsafeMutableBufferPointer<UInt8>) throws -> Int? {
        var length = uLong(output.count)
        let status = compress2(output.baseAddress, &length, data, uLong(data.count), Int32(level))
        if status == Z_BUF_ERROR { return nil }
        guard status == Z_OK else { throw CompressionError.failed("zlib: status \(status)") }
        return Int(length)
    }

    static func zlibDecompress(_ payload: [UInt8], originalSize: Int) throws -> [UInt8] {
        var length = uLong(originalSize)
        var output = [UInt8](repeating: 0, count: max(originalSize, 1))
        let status = uncompress(&output, &length, payload, uLong(payload.count))
        guard status == Z_OK, Int(length) == originalSize else { throw CompressionError.sizeMismatch }
        output.removeSubrange(originalSize...)
        return output
    }
}

public enum CompressionError: Error, Equatable, CustomStringConvertible {
    case failed(String)
    /// The payload did not decompress to the recorded size: it is damaged.
    case sizeMismatch

    public var description: String {
        switch self {
        case .failed(let text): return "compression failed: \(text)"
        case .sizeMismatch: return "a compressed payload is damaged: it does not decompress to its recorded size"
        }
    }
}

/// zstd contexts kept for reuse: making one per call costs more than compressing a small chunk.
///
/// A context that grows for one large piece (a pack's header, an index, a large file's chunk)
/// and then compresses small ones is judged wasteful by zstd after 128 of them and made again
/// smaller, its tables cleared and its fresh pages faulted in; the next large piece grows it
/// again. In a backup of 80,000 small files that was one context made again every 40 pieces,
/// 450 MB of tables cleared (1-2% of its CPU). Small pieces therefore use contexts of their
/// own, each in room fixed once for the largest small piece at its level
/// (`ZSTD_initStaticCCtx`), which zstd never makes again: their tables are used as they are,
/// the entries of earlier pieces told apart by their position.
final class ZstdContexts: @unchecked Sendable {
    static let shared = ZstdContexts()

    /// Pieces up to this size use fixed contexts (`takeFixed`): at level 3, 1 MiB of room.
    static let fixedRoomSize = 256 << 10

    /// A compression context in room of its own, for pieces up to `fixedRoomSize`.
    struct Fixed {
        let context: OpaquePointer
        let room: UnsafeMutableRawPointer
        let level: Int
        /// The thread that used it last (`pthread_self`).
        var thread: UInt = 0
    }

    private let lock = NSLock()
    /// Contexts kept, each with the thread that used it last (`pthread_self`).
    private var compressors: [(context: OpaquePointer, thread: UInt)] = []
    private var decompressors: [(context: OpaquePointer, thread: UInt)] = []
    private var fixed: [Fixed] = []

    /// How many contexts of each kind are kept.
    private static let kept = 8

    /// Which of `kept` to take: the last one this thread used, whose tables are likely still in
    /// its core's cache, or else the last one given back. On the 2-core VM, contexts that went
    /// from one core to the other made a backup of small files 10% slower, and some runs 40%
    /// (docs/BENCHMARKS.md, twenty-sixth session).
    private static func pick<T>(_ kept: [T], thread: UInt, matching: (T) -> Bool, by owner: (T) -> UInt) -> Int? {
        kept.lastIndex { matching($0) && owner($0) == thread } ?? kept.lastIndex(where: matching)
    }

    private static var thread: UInt { UInt(pthread_self()) }

    /// A fixed context for `level`; nil when zstd cannot make one (the caller then uses a
    /// growing one).
    func takeFixed(level: Int) -> Fixed? {
        let thread = Self.thread
        lock.lock()
        if let index = Self.pick(fixed, thread: thread, matching: { $0.level == level }, by: \.thread) {
            defer { lock.unlock() }
            return fixed.remove(at: index)
        }
        lock.unlock()
        // zstd picks its parameters by size tier, and a smaller tier may need more room (level 4:
        // greedy at 256 KiB, double fast at 128 KiB): the largest of the tiers up to the size.
        let size = [16 << 10, 128 << 10, Self.fixedRoomSize].map {
            ZSTD_estimateCCtxSize_usingCParams(ZSTD_getCParams(Int32(level), UInt64($0), 0))
        }.max()!
        let room = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        guard let context = ZSTD_initStaticCCtx(room, size) else {
            room.deallocate()
            return nil
        }
        return Fixed(context: context, room: room, level: level)
    }

    func give(_ context: Fixed) {
        var context = context
        context.thread = Self.thread
        lock.lock()
        if fixed.count < Self.kept {
            fixed.append(context)
            lock.unlock()
        } else {
            lock.unlock()
            context.room.deallocate()
        }
    }

    func takeCompressor() -> OpaquePointer {
        let thread = Self.thread
        lock.lock()
        defer { lock.unlock() }
        guard let index = Self.pick(compressors, thread: thread, matching: { _ in true }, by: \.thread) else { return ZSTD_createCCtx() }
        return compressors.remove(at: index).context
    }

    func give(compressor: OpaquePointer) {
        let thread = Self.thread
        lock.lock()
        defer { lock.unlock() }
        if compressors.count < Self.kept { compressors.append((compressor, thread)) } else { ZSTD_freeCCtx(compressor) }
    }

    func takeDecompressor() -> OpaquePointer {
        let thread = Self.thread
        lock.lock()
        defer { lock.unlock() }
        guard let index = Self.pick(decompressors, thread: thread, matching: { _ in true }, by: \.thread) else { return ZSTD_createDCtx() }
        return decompressors.remove(at: index).context
    }

    func give(decompressor: OpaquePointer) {
        let thread = Self.thread
        lock.lock()
        defer { lock.unlock() }
        if decompressors.count < Self.kept { decompressors.append((decompressor, thread)) } else { ZSTD_freeDCtx(decompressor) }
    }
}
