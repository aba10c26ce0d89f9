import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Byte arrays of chunk size, used again instead of allocated anew.
///
/// A backup makes three or four such arrays for every chunk (the chunk, its compressed and its
/// sealed form, the pack it goes into) and a restore as many for every object. Fresh ones cost
/// a page fault per 4 KiB (a million for the benchmark's full backup, a quarter of its CPU);
/// kept by malloc, they fragment the heap until it holds far more than is in use. The pool
/// keeps a bounded number of them, whose pages stay mapped.
final class BufferPool: Sendable {
    static let shared = BufferPool()

    /// Arrays smaller than this are left to malloc.
    static let minimumSize = 256 << 10
    /// Capacities are rounded up to this, so arrays fit the next use of about the same size.
    static let granule = 256 << 10

    private struct Free {
        var arrays: [[UInt8]] = []
        var bytes = 0
    }

    private let free = Mutex(Free())
    nonisolated(unsafe) private static let zeros = UnsafeBufferPointer(
        start: calloc(1 << 20, 1)!.assumingMemoryBound(to: UInt8.self), count: 1 << 20)
    /// The capacity kept for later use, at most.
    let limit: Int

    init(limit: Int = 8 << 20) {
        self.limit = limit
    }

    /// What the pool keeps now: arrays and their capacity.
    var kept: (arrays: Int, bytes: Int) { free.withLock { ($0.arrays.count, $0.bytes) } }

    /// An array of `count` bytes whose content `fill` writes (all of it, or the first bytes it
    /// returns the number of: the array is cut to that).
    func make(count: Int, _ fill: (UnsafeMutableBufferPointer<UInt8>) throws -> Int) rethrows -> [UInt8] {
        guard count >= Self.minimumSize, var array = reused(capacity: count) else {
            // A new array: `fill` writes into it directly, so pages it does not reach are never
            // touched (a compression bound, a box's room for compressing its chunk).
            let capacity = count >= Self.minimumSize ? Self.rounded(count) : max(count, 1)
            return try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                initialized = try fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        // The array's count must cover what `fill` writes: zeros are copied in from a region
        // that is never written (it maps the kernel's zero page), at memcpy's speed.
        while array.count < count {
            let piece = min(Self.zeros.count, count - array.count)
            array.append(contentsOf: UnsafeBufferPointer(rebasing: Self.zeros[0..<piece]))
        }
        let written = try array.withUnsafeMutableBufferPointer { try fill($0) }
        array.removeLast(count - written)
        return array
    }

    /// A copy of `bytes` in an array from the pool.
    func copy(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard bytes.count >= Self.minimumSize else { return Array(bytes) }
        var array = take(capacity: bytes.count)
        array.append(contentsOf: bytes)
        return array
    }

    /// `array` emptied with its capacity kept, or nil when something else still refers to it.
    static func emptied(_ array: consuming [UInt8]) -> [UInt8]? {
        var array = array
        let before = array.withUnsafeBufferPointer { $0.baseAddress }
        array.removeAll(keepingCapacity: true)
        // Shared: removeAll made a new empty buffer, and the old one is someone else's.
        guard array.withUnsafeBufferPointer({ $0.baseAddress }) == before else { return nil }
        return array
    }

    /// Gives an array back once nothing else refers to it (an array still shared elsewhere is
    /// simply let go).
    func recycle(_ array: consuming [UInt8]) {
        guard array.capacity >= Self.minimumSize, let kept = Self.emptied(consume array) else { return }
        free.withLock { free in
            // Full: smaller arrays make room for a larger one, so the pool follows the sizes
            // in use (objects restored grow when they are decompressed).
            while free.bytes + kept.capacity > limit, let smallest = free.arrays.indices.min(by: { free.arrays[$0].capacity < free.arrays[$1].capacity }),
                free.arrays[smallest].capacity < kept.capacity
            {
                free.bytes -= free.arrays.remove(at: smallest).capacity
            }
            guard free.bytes + kept.capacity <= limit else { return }
            free.bytes += kept.capacity
            free.arrays.append(kept)
        }
    }

    /// An empty array with room for at least `capacity` bytes: the smallest that fits, or a new one.
    func empty(capacity: Int) -> [UInt8] {
        guard capacity >= Self.minimumSize else { return [UInt8](unsafeUninitializedCapacity: capacity) { _, count in count = 0 } }
        return take(capacity: capacity)
    }

    private func take(capacity: Int) -> [UInt8] {
        if let reused = reused(capacity: capacity) { return reused }
        var array: [UInt8] = []
        array.reserveCapacity(Self.rounded(capacity))
        return array
    }

    /// The smallest kept array with room for `capacity` bytes, emptied.
    private func reused(capacity: Int) -> [UInt8]? {
        free.withLock { free in
            var best: Int?
            for (index, array) in free.arrays.enumerated() where array.capacity >= capacity {
                if best.map({ array.capacity < free.arrays[$0].capacity }) ?? true { best = index }
            }
            guard let best else { return nil }
            free.bytes -= free.arrays[best].capacity
            return free.arrays.remove(at: best)
        }
    }

    private static func rounded(_ capacity: Int) -> Int {
        (capacity + granule - 1) / granule * granule
    }
}

/// Bytes passed from one task to another (a chunk to store, a piece to hash, a loaded object):
/// the receiver takes them out, so it holds the only reference and can give the buffer back to
/// the pool.
final class ChunkHandoff: @unchecked Sendable {
    private var stored: [UInt8]?

    init(_ bytes: consuming [UInt8]) {
        stored = bytes
    }

    /// The chunk, while it has not been taken.
    var bytes: [UInt8] { stored ?? [] }

    /// The chunk, once.
    func take() -> [UInt8] {
        var taken: [UInt8]?
        swap(&taken, &stored)
        return taken ?? []
    }
}
