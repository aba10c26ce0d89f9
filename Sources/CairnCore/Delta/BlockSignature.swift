internal import CCairnKernels

/// A file version's block signature (the guide's "checksum file"): for each block of
/// `blockSize` bytes a rolling weak sum and a keyed strong hash, truncated as librsync does to
/// a length that keeps the chance of a false match negligible, and the version's extents, so a
/// delta against it resolves to stored objects with nothing else loaded.
///
/// Stored as a `signature` object (docs/FORMAT.md), encrypted like all data, and cached locally.
public struct BlockSignature: Sendable, Equatable {
    public var fileSize: UInt64
    public var blockSize: Int
    public var strongLength: Int
    /// The content of the version the signature describes.
    public var extents: [Extent]
    public var weak: [UInt32]
    /// `strongLength` bytes per block.
    public var strong: [UInt8]

    public var blockCount: Int { weak.count }

    static let version: UInt64 = 1

    /// Bytes of strong hash per block, as librsync sizes its truncated sums: a false match
    /// needs the 32-bit weak sum and the strong hash to agree at one of the file's offsets with
    /// one of its blocks, so `log2(offsets) + log2(blocks)` bits of strong hash keep that chance
    /// under 2^-32 per file; at least 8 and at most 32 bytes. (A false match could not pass
    /// unnoticed anyway: the content hash, made from the bytes read, would fail the restore.)
    public static func strongLength(fileSize: UInt64, blockSize: Int) -> Int {
        let blocks = max(1, (fileSize + UInt64(blockSize) - 1) / UInt64(blockSize))
        let bits = 64 - max(1, fileSize).leadingZeroBitCount + 64 - blocks.leadingZeroBitCount
        return min(32, max(8, (bits + 7) / 8))
    }

    /// The block size `auto` picks for a file of `size` bytes (technical FAQ 2.35).
    public static func automaticBlockSize(forFileSize size: UInt64) -> Int {
        switch size {
        case ..<500_000_000: return 4 << 10
        case ..<2_000_000_000: return 8 << 10
        case ..<8_000_000_000: return 16 << 10
        case ..<15_000_000_000: return 32 << 10
        default: return 64 << 10
        }
    }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 32 + extents.count * 40 + weak.count * (4 + strongLength))
        writer.varint(Self.version)
        writer.varint(fileSize)
        writer.varint(blockSize)
        writer.varint(strongLength)
        writer.varint(extents.count)
        for extent in extents {
            writer.id(extent.object)
            writer.varint(extent.offset)
            writer.varint(extent.length)
        }
        writer.varint(weak.count)
        for value in weak { writer.uint32LE(value) }
        writer.raw(strong)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8], what: String) throws -> BlockSignature {
        var reader = BinaryReader(bytes, what: what)
        let version = try reader.varint()
        guard version == Self.version else { throw FormatError.unsupportedVersion(what, Int(clamping: version)) }
        let fileSize = UInt64(try reader.count())
        let blockSize = try reader.count(limit: 1 << 24)
        let strongLength = try reader.count(limit: 32)
        guard blockSize >= 64, strongLength >= 4 else { throw FormatError.malformed(what, "block size or strong hash length out of range") }
        var extents: [Extent] = []
        let extentCount = try reader.count(limit: bytes.count / 34)
        extents.reserveCapacity(extentCount)
        for _ in 0..<extentCount {
            extents.append(Extent(object: try reader.id(), offset: try reader.count(limit: Int(UInt32.max)), length: try reader.count(limit: Int(UInt32.max))))
        }
        let count = try reader.count(limit: bytes.count / (4 + strongLength))
        let expected = (fileSize + UInt64(blockSize) - 1) / UInt64(blockSize)
        guard UInt64(count) == expected, extents.reduce(UInt64(0), { $0 + UInt64($1.length) }) == fileSize else {
            throw FormatError.malformed(what, "its blocks or extents do not cover the file")
        }
        let weakBytes = try reader.raw(count * 4)
        let weak = weakBytes.withUnsafeBytes { raw in
            (0..<count).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        let strong = try reader.raw(count * strongLength)
        guard reader.isAtEnd else { throw FormatError.malformed(what, "trailing bytes") }
        return BlockSignature(fileSize: fileSize, blockSize: blockSize, strongLength: strongLength, extents: extents, weak: weak, strong: strong)
    }
}

/// The keyed strong hash of signatures: SHA-256 under a key of the repository, so nobody
/// without the key can craft blocks that collide (and a truncated hash stays safe).
public final class BlockHasher: @unchecked Sendable {
    let pointer: OpaquePointer

    public init(key: [UInt8]) {
        pointer = key.withUnsafeBufferPointer { cairn_keyed_hash_new($0.baseAddress, $0.count) }!
    }

    deinit { cairn_keyed_hash_free(pointer) }
}

/// Builds a signature from a file's bytes as they are read, in order, in bounded memory.
public struct SignatureBuilder {
    let hasher: BlockHasher
    public let blockSize: Int
    public let strongLength: Int
    private(set) var weak: [UInt32] = []
    private(set) var strong: [UInt8] = []
    /// Bytes of an incomplete block carried to the next `update`.
    private var carry: [UInt8] = []
    private(set) var size: UInt64 = 0

    public init(hasher: BlockHasher, blockSize: Int, expectedSize: UInt64) {
        self.hasher = hasher
        self.blockSize = blockSize
        self.strongLength = BlockSignature.strongLength(fileSize: expectedSize, blockSize: blockSize)
        let blocks = Int(min(expectedSize / UInt64(blockSize) + 1, 1 << 24))
        weak.reserveCapacity(blocks)
        strong.reserveCapacity(blocks * strongLength)
    }

    /// Block `index` is known to equal a block with these sums (a copy of a base block): it
    /// need not be hashed again. Only the next block, at a block boundary, can be given.
    public var nextBlockOffset: UInt64 { UInt64(weak.count) * UInt64(blockSize) }

    public mutating func appendKnown(weak value: UInt32, strong bytes: [UInt8]) {
        precondition(carry.isEmpty && bytes.count == strongLength)
        weak.append(value)
        strong.append(contentsOf: bytes)
        size += UInt64(blockSize)
    }

    public mutating func update(_ data: UnsafeBufferPointer<UInt8>) {
        guard !data.isEmpty else { return }
        var rest = data
        if !carry.isEmpty {
            let take = min(blockSize - carry.count, rest.count)
            carry.append(contentsOf: rest[rest.startIndex..<rest.startIndex + take])
            rest = UnsafeBufferPointer(rebasing: rest[(rest.startIndex + take)...])
            if carry.count == blockSize {
                let block = carry
                carry = []
                block.withUnsafeBufferPointer { hashBlocks($0) }
            }
        }
        let whole = rest.count / blockSize * blockSize
        if whole > 0 { hashBlocks(UnsafeBufferPointer(rebasing: rest[rest.startIndex..<rest.startIndex + whole])) }
        if whole < rest.count { carry.append(contentsOf: rest[(rest.startIndex + whole)...]) }
    }

    private mutating func hashBlocks(_ data: UnsafeBufferPointer<UInt8>) {
        let count = (data.count + blockSize - 1) / blockSize
        let weakStart = weak.count, strongStart = strong.count
        weak.append(contentsOf: repeatElement(0, count: count))
        strong.append(contentsOf: repeatElement(0, count: count * strongLength))
        weak.withUnsafeMutableBufferPointer { weakOut in
            strong.withUnsafeMutableBufferPointer { strongOut in
                cairn_block_sums(
                    hasher.pointer, data.baseAddress, data.count, blockSize, weakOut.baseAddress! + weakStart,
                    strongOut.baseAddress! + strongStart, strongLength)
            }
        }
        size += UInt64(data.count)
    }

    /// The signature of everything given, for a version with these extents.
    public mutating func finish(extents: [Extent]) -> BlockSignature {
        if !carry.isEmpty {
            let block = carry
            carry = []
            block.withUnsafeBufferPointer { hashBlocks($0) }
        }
        return BlockSignature(fileSize: size, blockSize: blockSize, strongLength: strongLength, extents: extents, weak: weak, strong: strong)
    }
}

/// A signature made searchable: a hash table of its weak sums behind a small bit filter. The
/// sums live only in the index (the signature's arrays can go), with the signature's extents.
final class DeltaIndex: @unchecked Sendable {
    let pointer: OpaquePointer
    let fileSize: UInt64
    let blockSize: Int
    let strongLength: Int
    let extents: [Extent]

    init(_ signature: BlockSignature, hasher: BlockHasher) {
        fileSize = signature.fileSize
        blockSize = signature.blockSize
        strongLength = signature.strongLength
        extents = signature.extents
        // A short last block is never matched.
        let wholeBlocks = Int(signature.fileSize / UInt64(signature.blockSize))
        pointer = signature.weak.withUnsafeBufferPointer { weak in
            signature.strong.withUnsafeBufferPointer { strong in
                cairn_delta_index_new(hasher.pointer, signature.blockSize, signature.strongLength, wholeBlocks, weak.baseAddress, strong.baseAddress)
            }
        }!
    }

    deinit { cairn_delta_index_free(pointer) }

    /// The first offset at or after `start` where a whole block of `data` matches a block of the
    /// signature, and that block; nil when none does up to `data.count - blockSize`.
    func find(in data: UnsafeBufferPointer<UInt8>, from start: Int, prefer: Int) -> (offset: Int, block: Int)? {
        var block: UInt32 = 0
        let found = cairn_delta_find(pointer, data.baseAddress, data.count, start, UInt32(truncatingIfNeeded: prefer), &block)
        return found < 0 ? nil : (Int(found), Int(block))
    }

    /// The sums of one block.
    func sums(of block: Int) -> (weak: UInt32, strong: [UInt8]) {
        var weak: UInt32 = 0
        var strong = [UInt8](repeating: 0, count: strongLength)
        strong.withUnsafeMutableBufferPointer { cairn_delta_index_sums(pointer, block, &weak, $0.baseAddress) }
        return (weak, strong)
    }
}

/// Makes a signature beside the reading of a file: pieces are hashed in order on another task,
/// at most one piece behind the reader, so the signature costs the reader no time.
final class SignatureStream: @unchecked Sendable {
    // Changed only by the work `feed` adds, one piece after another.
    private var builder: SignatureBuilder
    private let work = WorkWindow<Void>(width: 1, oneAtATime: true)

    init(_ builder: SignatureBuilder) {
        self.builder = builder
    }

    /// The next piece of the file, in order.
    func feed(_ piece: [UInt8]) async throws {
        try await work.add { piece.withUnsafeBufferPointer { self.builder.update($0) } }
    }

    /// The signature; throws when a piece was not hashed (the reading task was cancelled).
    func finish(extents: [Extent]) async throws -> BlockSignature {
        try await work.finish()
        return builder.finish(extents: extents)
    }

    /// Waits for the pieces fed, after a failure.
    func abandon() async {
        await work.drain()
    }
}
