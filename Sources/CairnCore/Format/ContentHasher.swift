/// A file's whole-content hash (`TreeEntry.contentHash`): SHA-256 over the ids of the file's
/// content cut into chunks the way a backup cuts it, so a backup gets it from ids it computes
/// anyway, and a restore can tell an identical existing file from local data alone.
///
/// Used by one task at a time (a delta hands it from task to task, in order).
public final class ContentHasher: @unchecked Sendable {
    private let keys: RepositoryKeys
    private let chunker: Chunker
    private let stream: SHA256Stream
    private var buffer: [UInt8] = []

    public init(keys: RepositoryKeys) {
        self.keys = keys
        self.chunker = Chunker(key: keys.chunkerKey)
        self.stream = SHA256Stream()
        stream.update(keys.contentHashPrefix)
    }

    /// The hash from chunk ids already known, in order.
    public static func hash(ofChunks ids: [ObjectID], keys: RepositoryKeys) -> ObjectID {
        hash(ofIDs: ids, count: ids.count, prefix: keys.contentHashPrefix)
    }

    /// The hash of a file stored as whole chunks, from its extents' ids (a tree leaves such a
    /// hash out). `prefix` is `Repository.contentHashPrefix`.
    public static func hash(ofChunks extents: [Extent], prefix: [UInt8]) -> ObjectID {
        hash(ofIDs: extents.lazy.map(\.object), count: extents.count, prefix: prefix)
    }

    private static func hash(ofIDs ids: some Sequence<ObjectID>, count: Int, prefix: [UInt8]) -> ObjectID {
        var message = prefix
        message.reserveCapacity(prefix.count + count * ObjectID.size)
        for id in ids { id.append(to: &message) }
        return ObjectID(Hashing.sha256(message))
    }

    /// Bytes added since the buffer was last cut: cutting again is tried once there are enough
    /// of them (each try scans the pending chunk from its start).
    private var unscanned = 0
    private static let rescanAfter = 1 << 20

    /// Feeds the next bytes of the content. Chunks that end inside them are hashed straight
    /// from them; only the pending end of the content is kept.
    public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if buffer.isEmpty, bytes.count >= Self.rescanAfter,
            let rest = bytes.withContiguousStorageIfAvailable({ data in UnsafeBufferPointer(rebasing: data[cutChunks(data, final: false)...]) })
        {
            buffer.append(contentsOf: rest)
            return
        }
        buffer.append(contentsOf: bytes)
        unscanned += bytes.count
        if unscanned >= Self.rescanAfter { cutBuffer(final: false) }
    }

    /// Feeds a pooled copy handed over from another task, then gives it back to the pool.
    func update(taking handoff: ChunkHandoff) {
        let bytes = handoff.take()
        update(bytes)
        BufferPool.shared.recycle(consume bytes)
    }

    public func finish() -> ObjectID {
        cutBuffer(final: true)
        return ObjectID(stream.finish())
    }

    private func cutBuffer(final: Bool) {
        let start = buffer.withUnsafeBufferPointer { cutChunks($0, final: final) }
        if start > 0 { buffer.removeSubrange(0..<start) }
        unscanned = 0
    }

    /// Hashes the chunks of `data` whose ends are certain (a cut before its end, or a chunk of
    /// the maximum size, or the end of the content when `final`); returns where the rest starts.
    private func cutChunks(_ data: UnsafeBufferPointer<UInt8>, final: Bool) -> Int {
        var start = 0
        while start < data.count {
            let length = chunker.cut(data, from: start)
            guard final || length < data.count - start || data.count - start >= Chunker.maximumSize else { break }
            stream.update(keys.codec.contentID(of: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: data[start..<start + length]))).bytes)
            start += length
        }
        return start
    }
}
