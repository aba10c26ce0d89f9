/// A pack file: many sealed objects, then a sealed header listing them, then the header's
/// length as 4 bytes little-endian. Small objects travel together, so 12,000 small files make
/// tens of files at the destination, not 12,000.
struct PackEntry: Hashable, Sendable {
    var kind: ObjectKind
    var id: ObjectID
    var offset: Int
    var length: Int
}

/// Fills a pack: its objects go to the storage as they come (`StorageBackend.openUpload`), so
/// a pack is never held whole in memory; `finish` adds the header and hands back the upload,
/// for the caller to commit.
struct PackBuilder {
    /// A pack is finished once it holds this many bytes.
    static let targetSize = 8 << 20

    /// The pack being filled: its random id, chosen with its first object, and its upload.
    private var current: (id: ObjectID, upload: any StorageUpload)?
    private(set) var size = 0
    private(set) var entries: [PackEntry] = []
    /// A write that failed (a full disk): the pack's bytes no longer match its entries, so it
    /// is never finished, and every later use fails the same way.
    private var failure: (any Error)?

    var isEmpty: Bool { entries.isEmpty }
    var isFull: Bool { size >= Self.targetSize }

    mutating func append(_ kind: ObjectKind, id: ObjectID, box: [UInt8], to storage: any StorageBackend) async throws {
        if let failure { throw failure }
        if current == nil {
            let pack = try ObjectID.random()
            current = (pack, try await storage.openUpload(Self.key(for: pack)))
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

    /// Writes the header (every object and the header carry their own authentication, so a
    /// hash of the whole pack would only cost a pass over the data) and leaves the builder
    /// empty; nil when it is empty already.
    mutating func finish(codec: ObjectCodec) async throws -> Finished? {
        if let failure { throw failure }
        guard let current, !entries.isEmpty else { return nil }
        var header = BinaryWriter(capacity: entries.count * 40 + 8)
        header.varint(1)
        header.varint(entries.count)
        for entry in entries {
            header.byte(entry.kind.rawValue)
            header.id(entry.id)
            header.varint(entry.offset)
            header.varint(entry.length)
        }
        let box = try codec.seal(.packHeader, id: PackHeader.headerID, plaintext: header.bytes, compressor: Compressor(.default))
        var trailer = BinaryWriter()
        trailer.uint32LE(UInt32(box.count))
        try await write(box)
        try await write(trailer.bytes)
        let finished = Finished(id: current.id, upload: current.upload, entries: entries, size: size + box.count + 4)
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

    static func key(for pack: ObjectID) -> String {
        let hex = pack.hex
        return "data/\(hex.prefix(2))/\(hex)"
    }
}

enum PackHeader {
    /// Pack headers are bound to this fixed id; the pack's own id is the hash of its bytes.
    static let headerID = ObjectID([UInt8](repeating: 0, count: 32))

    /// Reads the entries of a pack from its last bytes, checking that they stay inside it.
    static func read(from storage: any StorageBackend, key: String, size: Int, codec: ObjectCodec) async throws -> [PackEntry] {
        guard size >= 4 else { throw RepositoryError.damaged("\(key) is too short to be a pack") }
        let trailer = try await storage.get(key, range: (size - 4)..<size)
        let length = Int(trailer.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) })
        guard length <= size - 4 else { throw RepositoryError.damaged("\(key) has a header longer than the pack") }
        let box = try await storage.get(key, range: (size - 4 - length)..<(size - 4))
        let plaintext = try codec.open(.packHeader, id: headerID, box: box, where: key)
        var reader = BinaryReader(plaintext, what: "the header of \(key)")
        guard try reader.varint() == 1 else { throw FormatError.unsupportedVersion("the pack \(key)", 0) }
        let count = try reader.count(limit: plaintext.count)
        var entries: [PackEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            guard let kind = ObjectKind(rawValue: try reader.byte()) else { throw FormatError.malformed("the header of \(key)", "unknown object kind") }
            // Each at most the pack's size (and an index keeps them in 32 bits): no sum traps.
            let limit = min(size, Int(UInt32.max))
            let entry = PackEntry(kind: kind, id: try reader.id(), offset: try reader.count(limit: limit), length: try reader.count(limit: limit))
            guard entry.offset + entry.length <= size - 4 - length else {
                throw RepositoryError.damaged("the header of \(key) points past the pack's data")
            }
            entries.append(entry)
        }
        return entries
    }
}
