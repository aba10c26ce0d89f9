/// One object of a pack: its kind, id, and where its sealed box lies in the pack.
struct PackEntry: Hashable, Sendable {
    var kind: ObjectKind
    var id: ObjectID
    var offset: Int
    var length: Int
}

/// A pack file: many sealed objects, then a sealed header listing them, then the header's
/// length as 4 bytes little-endian. Small objects travel together, so 12,000 small files make
/// tens of files at the destination, not 12,000. Encoding and decoding only: writing packs is
/// `PackBuilder`'s, reading them the repository's.
enum PackFormat {
    /// Pack headers are bound to this fixed id; the pack's own id is random.
    static let headerID = ObjectID([UInt8](repeating: 0, count: 32))
    /// The header's length after it.
    static let trailerSize = 4

    /// Where a pack is stored: `data/` and the first two hex digits of its id.
    static func key(for pack: ObjectID) -> String {
        let hex = pack.hex
        return "data/\(hex.prefix(2))/\(hex)"
    }

    /// What ends a pack whose objects are `entries`: the sealed header and its length. Every
    /// object and the header carry their own authentication, so a hash of the whole pack
    /// would only cost a pass over the data.
    static func ending(for entries: [PackEntry], codec: ObjectCodec) throws -> [UInt8] {
        var header = BinaryWriter(capacity: entries.count * 40 + 8)
        header.varint(1)
        header.varint(entries.count)
        for entry in entries {
            header.byte(entry.kind.rawValue)
            header.id(entry.id)
            header.varint(entry.offset)
            header.varint(entry.length)
        }
        let box = try codec.seal(.packHeader, id: headerID, plaintext: header.bytes, compressor: Compressor(.default))
        var trailer = BinaryWriter()
        trailer.uint32LE(UInt32(box.count))
        return box + trailer.bytes
    }

    /// The sealed header's length, from the pack's last `trailerSize` bytes, checked to fit in
    /// a pack of `size` bytes stored as `key`.
    static func headerLength(trailer: some Collection<UInt8>, size: Int, key: String) throws -> Int {
        guard size >= trailerSize, trailer.count == trailerSize else { throw RepositoryError.damaged("\(key) is too short to be a pack") }
        let length = Int(trailer.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) })
        guard length <= size - trailerSize else { throw RepositoryError.damaged("\(key) has a header longer than the pack") }
        return length
    }

    /// The entries of the pack `key` of `size` bytes from its sealed header `box`, checking
    /// that they stay inside the pack's data.
    static func entries(headerBox box: UnsafeRawBufferPointer, size: Int, key: String, codec: ObjectCodec) throws -> [PackEntry] {
        let plaintext = try codec.open(.packHeader, id: headerID, box: box, where: key)
        var reader = BinaryReader(plaintext, what: "the header of \(key)")
        guard try reader.varint() == 1 else { throw FormatError.unsupportedVersion("the pack \(key)", 0) }
        let count = try reader.count(limit: plaintext.count)
        let dataEnd = size - trailerSize - box.count
        var entries: [PackEntry] = []
        entries.reserveCapacity(min(count, plaintext.count / 35))  // an entry takes at least 35 bytes
        for _ in 0..<count {
            guard let kind = ObjectKind(rawValue: try reader.byte()) else { throw FormatError.malformed("the header of \(key)", "unknown object kind") }
            // Each at most the pack's size (and an index keeps them in 32 bits): no sum traps.
            let limit = min(size, Int(UInt32.max))
            let entry = PackEntry(kind: kind, id: try reader.id(), offset: try reader.count(limit: limit), length: try reader.count(limit: limit))
            guard entry.offset + entry.length <= dataEnd else {
                throw RepositoryError.damaged("the header of \(key) points past the pack's data")
            }
            entries.append(entry)
        }
        return entries
    }

    /// The entries of a whole pack held in memory.
    static func entries(ofPack pack: UnsafeRawBufferPointer, key: String, codec: ObjectCodec) throws -> [PackEntry] {
        let size = pack.count
        let length = try headerLength(trailer: pack[max(0, size - trailerSize)...], size: size, key: key)
        let box = UnsafeRawBufferPointer(rebasing: pack[(size - trailerSize - length)..<(size - trailerSize)])
        return try entries(headerBox: box, size: size, key: key, codec: codec)
    }
}
