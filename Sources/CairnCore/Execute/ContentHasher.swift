/// A file's whole-content hash (`TreeEntry.contentHash`): SHA-256 over the ids of the file's
/// content cut into chunks the way a backup cuts it, so a backup gets it from ids it computes
/// anyway, and a restore can tell an identical existing file from local data alone.
///
/// Used by one task at a time (a delta hands it from task to task, in order).
public final class ContentHasher: @unchecked Sendable {
    private let repository: Repository
    private let chunker: Chunker
    private let stream: SHA256Stream
    private var buffer: [UInt8] = []

    public init(repository: Repository) {
        self.repository = repository
        self.chunker = Chunker(key: repository.chunkerKey)
        self.stream = Self.start(repository)
    }

    static func start(_ repository: Repository) -> SHA256Stream {
        let stream = SHA256Stream()
        stream.update(repository.contentHashPrefix)
        return stream
    }

    /// The hash from chunk ids already known, in order.
    public static func hash(ofChunks ids: [ObjectID], repository: Repository) -> ObjectID {
        let stream = start(repository)
        for id in ids { stream.update(id.bytes) }
        return ObjectID(stream.finish())
    }

    /// Feeds the next bytes of the content.
    public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        // At most one maximum chunk waits for the bytes that decide where it ends.
        if buffer.count >= Chunker.maximumSize { cut(final: false) }
    }

    public func finish() -> ObjectID {
        cut(final: true)
        return ObjectID(stream.finish())
    }

    private func cut(final: Bool) {
        var start = 0
        buffer.withUnsafeBufferPointer { data in
            while data.count - start >= Chunker.maximumSize || (final && start < data.count) {
                let length = chunker.cut(data, from: start)
                stream.update(repository.contentID(of: Array(data[start..<start + length])).bytes)
                start += length
            }
        }
        buffer.removeSubrange(0..<start)
    }
}
