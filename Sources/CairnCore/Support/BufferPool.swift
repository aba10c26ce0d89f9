import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Byte arrays of chunk size, used again instead of allocated anew.
///
/// A backup makes two such arrays for every chunk (the chunk, and its box: compressed and
/// sealed in place) and a restore two or three for every object (the box read, its plaintext,
/// decompressed). Fresh ones cost a page fault per 4 KiB (a million for the benchmark's full
/// backup, a quarter of its CPU); kept by malloc, they fragment the heap until it holds far
/// more than is in use. The pool keeps a bounded number of them, whose pages stay mapped.
final class BufferPool: Sendable {
    static let shared = BufferPool()

    /// Arrays smaller than this are left to malloc.
    static let minimumSize = 256 << 10
    /// Capacities are rounded up to this, so arrays fit the next use of about the same size.
    static let granule = 256 << 10

    private let free: Mutex<KeptBySize<[UInt8]>>
    /// The capacity kept for later use, at most. 12 MiB: with 8 MiB a third of a full backup's
    /// arrays were new (each page a fault, and on a VM that hands freed memory back to its
    /// host, a slow one); the memory that packs no longer hold (they are written as they fill)
    /// pays for it.
    let limit: Int

    init(limit: Int = 12 << 20) {
        self.limit = limit
        free = Mutex(KeptBySize(limit: limit))
    }

    /// What the pool keeps now: arrays and their capacity.
    var kept: (arrays: Int, bytes: Int) { free.withLock { ($0.count, $0.bytes) } }

    /// An array of `count` bytes whose content `fill` writes (all of it, or the first bytes it
    /// returns the number of: the array is cut to that).
    func make(count: Int, _ fill: (UnsafeMutableBufferPointer<UInt8>) throws -> Int) throws -> [UInt8] {
        if count >= Self.minimumSize, var reused = reused(capacity: count) {
            // `fill` writes into the kept array's room past its (empty) content, in place.
            var called = false
            var failure: Error?
            withoutActuallyEscaping(fill) { fill in
                reused.append(
                    contentsOf: FilledInPlace(count: count) { buffer in
                        called = true
                        do {
                            return try fill(buffer)
                        } catch {
                            failure = error
                            return 0
                        }
                    })
            }
            // A standard library that stopped handing the room over would give empty arrays.
            precondition(called, "Array.append(contentsOf:) no longer hands a sequence the array's room")
            if let failure {
                // Given back as the only reference to it (`reused` is captured above).
                var given: [UInt8] = []
                swap(&given, &reused)
                recycle(consume given)
                throw failure
            }
            return reused
        }
        // A new array: `fill` writes into it directly, so pages it does not reach are never
        // touched (a compression bound, a box's room for compressing its chunk).
        let capacity = count >= Self.minimumSize ? Self.rounded(count) : max(count, 1)
        return try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            initialized = try fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
        }
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
        // Arrays let go (the pool full) are freed here, outside the lock.
        _ = free.withLock { $0.keep(kept, size: kept.capacity) }
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
        free.withLock { $0.take(atLeast: capacity) }
    }

    private static func rounded(_ capacity: Int) -> Int {
        (capacity + granule - 1) / granule * granule
    }
}

/// Bytes an array appends by letting `fill` write them into its room (the first `count` bytes of
/// it, of which `fill` returns how many it wrote): `Array.append(contentsOf:)` hands a sequence
/// the array's uninitialized capacity through `_copyContents(initializing:)`, the standard
/// library's way for a sequence to copy itself out. A kept array's room is then used as it is;
/// growing its count otherwise means writing every byte first (zeros copied in before each
/// object decompressed into it: 1.9% of a restore's time).
private struct FilledInPlace: Sequence {
    let count: Int
    let fill: (UnsafeMutableBufferPointer<UInt8>) -> Int

    var underestimatedCount: Int { 0 }

    func makeIterator() -> EmptyCollection<UInt8>.Iterator { EmptyCollection<UInt8>.Iterator() }

    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<UInt8>) -> (EmptyCollection<UInt8>.Iterator, Int) {
        precondition(buffer.count >= count, "an array from the pool has less room than it was taken for")
        let written = fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
        precondition(written <= count)
        return (makeIterator(), written)
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

/// Read buffers kept for the next files. A backup reads thousands of files; a fresh buffer of a
/// megabyte or more is mapped on its own and costs a page fault per 4 KiB, every file again
/// (the benchmark's medium files: ~90,000 of a full backup's ~200,000 faults).
final class ReadBuffers: Sendable {
    static let shared = ReadBuffers()

    /// Buffers smaller than this are left to malloc, which keeps them in its heap.
    static let minimumSize = 256 << 10
    /// Capacities are rounded up to this, so buffers fit files of about the same size.
    static let granule = 1 << 20

    /// Kept buffers by address (pointers are not Sendable), with their sizes.
    private let free: Mutex<KeptBySize<UInt>>

    init(limit: Int = 16 << 20) {
        free = Mutex(KeptBySize(limit: limit))
    }

    deinit {
        for address in free.withLock({ $0.removeAll() }) { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// What is kept now: buffers and their bytes.
    var kept: (buffers: Int, bytes: Int) { free.withLock { ($0.count, $0.bytes) } }

    /// A buffer of at least `capacity` bytes: the smallest kept one that fits, or a new one.
    /// Its content is whatever it held before.
    func take(capacity: Int) -> UnsafeMutableBufferPointer<UInt8> {
        guard capacity >= Self.minimumSize else { return .allocate(capacity: capacity) }
        if let (address, size) = free.withLock({ $0.takeWithSize(atLeast: capacity) }),
            let pointer = UnsafeMutablePointer<UInt8>(bitPattern: address)
        {
            return UnsafeMutableBufferPointer(start: pointer, count: size)
        }
        return .allocate(capacity: (capacity + Self.granule - 1) / Self.granule * Self.granule)
    }

    /// Takes a buffer back from `take`: kept while the limit allows (smaller ones make room for
    /// a larger one), freed otherwise.
    func give(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        guard buffer.count >= Self.minimumSize, let address = buffer.baseAddress.map({ UInt(bitPattern: $0) }) else {
            buffer.deallocate()
            return
        }
        for address in free.withLock({ $0.keep(address, size: buffer.count) }) { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }
}

/// Free buffers and their sizes, for the pools above: the smallest that fits is taken; when the
/// limit is reached, smaller ones make room for a larger one, so a pool follows the sizes in
/// use (objects restored grow when they are decompressed).
struct KeptBySize<Item> {
    private var items: [(item: Item, size: Int)] = []
    private(set) var bytes = 0
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { items.count }

    mutating func take(atLeast size: Int) -> Item? {
        takeWithSize(atLeast: size)?.item
    }

    mutating func takeWithSize(atLeast size: Int) -> (item: Item, size: Int)? {
        guard let best = items.indices.filter({ items[$0].size >= size }).min(by: { items[$0].size < items[$1].size }) else { return nil }
        bytes -= items[best].size
        return items.remove(at: best)
    }

    /// Keeps `item` if the limit allows, once smaller items are let go; returns what is let go
    /// (`item` itself when it does not fit), for the caller to free.
    mutating func keep(_ item: Item, size: Int) -> [Item] {
        var dropped: [Item] = []
        while bytes + size > limit, let smallest = items.indices.min(by: { items[$0].size < items[$1].size }), items[smallest].size < size {
            bytes -= items[smallest].size
            dropped.append(items.remove(at: smallest).item)
        }
        guard bytes + size <= limit else { return dropped + [item] }
        bytes += size
        items.append((item, size))
        return dropped
    }

    /// Everything kept, which the caller then frees.
    mutating func removeAll() -> [Item] {
        defer {
            items = []
            bytes = 0
        }
        return items.map(\.item)
    }
}
