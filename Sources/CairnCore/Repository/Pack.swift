/// Fills a pack: its objects go to the storage as they come (`StorageBackend.openUpload`), so
/// a pack is never held whole in memory; `finish` adds the header and hands back the upload,
/// for the caller to commit.
struct PackBuilder {
    /// A pack is finished once it holds this many bytes: 8 MiB, or 16 MiB on an object store,
    /// where each pack is a PUT and a restore reads a pack in one GET.
    static func targetSize(for storage: any StorageBackend) -> Int {
        storage.capabilities.rangedReadOverhead >= 1 << 20 ? 16 << 20 : 8 << 20
    }

    private var target = 8 << 20

    /// The pack being filled: its random id, chosen with its first object, and its upload.
    private var current: (id: ObjectID, upload: any StorageUpload)?
    private(set) var size = 0
    private(set) var entries: [PackEntry] = []
    /// A write that failed (a full disk): the pack's bytes no longer match its entries, so it
    /// is never finished, and every later use fails the same way.
    private var failure: (any Error)?

    var isEmpty: Bool { entries.isEmpty }
    var isFull: Bool { size >= target }

    mutating func append(_ kind: ObjectKind, id: ObjectID, box: [UInt8], to storage: any StorageBackend) async throws {
        if let failure { throw failure }
        if current == nil {
            target = Self.targetSize(for: storage)
            let pack = try ObjectID.random()
            current = (pack, try await storage.openUpload(PackFormat.key(for: pack)))
        }
        try await write(box)
        entries.append(PackEntry(kind: kind, id: id, offset: size, length: box.count))
        size += box.count
    }

    struct Finished {
        var id: ObjectID
        var upload: any StorageUpload
        var entries: [PackEntry]
        /// The pack's size, header included.
        var size: Int
    }

    /// Writes the header (`PackFormat.ending`) and leaves the builder empty; nil when it is
    /// empty already.
    mutating func finish(codec: ObjectCodec) async throws -> Finished? {
        if let failure { throw failure }
        guard let current, !entries.isEmpty else { return nil }
        let ending = try PackFormat.ending(for: entries, codec: codec)
        try await write(ending)
        let finished = Finished(id: current.id, upload: current.upload, entries: entries, size: size + ending.count)
        self = PackBuilder()
        return finished
    }

    private mutating func write(_ bytes: [UInt8]) async throws {
        do {
            try await current!.upload.write(bytes)
        } catch {
            failure = error
            throw error
        }
    }

}

enum PackHeader {
    /// Reads the entries of a pack from its last bytes: two ranged reads.
    static func read(from storage: any StorageBackend, key: String, size: Int, codec: ObjectCodec) async throws -> [PackEntry] {
        guard size >= PackFormat.trailerSize else { throw RepositoryError.damaged("\(key) is too short to be a pack") }
        let trailer = try await storage.get(key, range: (size - PackFormat.trailerSize)..<size)
        let length = try PackFormat.headerLength(trailer: trailer, size: size, key: key)
        let box = try await storage.read(key, range: (size - PackFormat.trailerSize - length)..<(size - PackFormat.trailerSize))
        return try box.withUnsafeBytes { try PackFormat.entries(headerBox: $0, size: size, key: key, codec: codec) }
    }
}
