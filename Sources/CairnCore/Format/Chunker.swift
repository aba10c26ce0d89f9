internal import CCairnKernels

/// Content-defined chunking (FastCDC with normalised chunk sizes): cut points depend on the
/// content, so an insertion early in a file moves only the chunks around it and the rest
/// deduplicate. The gear table comes from the repository's key, so cut points say nothing
/// about content to someone who sees only chunk sizes.
public struct Chunker: Sendable {
    public static let minimumSize = 512 << 10
    public static let averageSize = 1 << 20
    public static let maximumSize = 8 << 20

    private let gear: [UInt64]
    private static let smallMask: UInt64 = ((1 << 22) - 1) << 42
    private static let largeMask: UInt64 = ((1 << 18) - 1) << 46

    /// A chunker whose gear table is derived from `key`.
    public init(key: [UInt8]) {
        var table: [UInt64] = []
        table.reserveCapacity(256)
        var counter: UInt32 = 0
        while table.count < 256 {
            let block = Hashing.hmacSHA256(key: key, Array("cairn-chunker".utf8) + withUnsafeBytes(of: counter.bigEndian, Array.init))
            for word in 0..<4 where table.count < 256 {
                table.append(block[word * 8..<word * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) })
            }
            counter += 1
        }
        gear = table
    }

    /// The length of the chunk that starts at `start` in `data`. A length shorter than the data
    /// from `start` is a cut point whatever follows; a length that reaches the end of the data
    /// is final only with at least `maximumSize` bytes there or at the end of the stream, so
    /// cuts never depend on how the stream was read.
    public func cut(_ data: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        gear.withUnsafeBufferPointer { gear in
            cairn_fastcdc_cut(
                data.baseAddress! + start, data.count - start, gear.baseAddress!, Self.minimumSize, Self.averageSize,
                Self.maximumSize, Self.smallMask, Self.largeMask)
        }
    }
}
