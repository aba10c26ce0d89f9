import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Page-aligned buffers for I/O past the page cache (O_DIRECT reads and writes), a few kept
/// for reuse: a fresh buffer of a megabyte or more is mapped anew, and faulting in and zeroing
/// its pages costs about as much as the copy that direct I/O saves.
enum AlignedMemory {
    static let alignment = 4096
    /// Sizes are rounded up to this, so buffers of one size class serve each other.
    static let granule = 1 << 20
    /// At most this much is kept between uses.
    static let keptLimit = 4 << 20

    private static let kept = Mutex<[(address: UInt, size: Int)]>([])

    /// A buffer of at least `count` bytes and its size; nil when memory runs out.
    static func allocate(_ count: Int) -> (UnsafeMutableRawPointer, Int)? {
        let size = count < granule ? roundedToPage(count) : (count + granule - 1) / granule * granule
        if size >= granule, let reused = kept.withLock({ kept -> (address: UInt, size: Int)? in
            // The smallest kept buffer that is large enough.
            guard let index = kept.indices.filter({ kept[$0].size >= size }).min(by: { kept[$0].size < kept[$1].size }) else { return nil }
            return kept.remove(at: index)
        }), let memory = UnsafeMutableRawPointer(bitPattern: reused.address) {
            return (memory, reused.size)
        }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, alignment, size) == 0, let memory else { return nil }
        return (memory, size)
    }

    /// Gives back a buffer from `allocate` with the size it returned.
    static func release(_ memory: UnsafeMutableRawPointer, size: Int) {
        guard size >= granule else { return free(memory) }
        let freeing: [UInt] = kept.withLock { kept in
            kept.append((UInt(bitPattern: memory), size))
            // Over the limit, the smallest go: the next large read needs a large buffer.
            var freeing: [UInt] = []
            kept.sort { $0.size > $1.size }
            while kept.reduce(0, { $0 + $1.size }) > keptLimit, let last = kept.popLast() { freeing.append(last.address) }
            return freeing
        }
        for address in freeing { free(UnsafeMutableRawPointer(bitPattern: address)) }
    }

    static func roundedToPage(_ count: Int) -> Int {
        max(alignment, (count + alignment - 1) / alignment * alignment)
    }
}
