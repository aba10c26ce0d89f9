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

    /// The length of the chunk that starts at `start` in `data`; `atEnd` says whether the data
    /// ends the stream (otherwise the caller must supply at least `maximumSize` bytes when it can).
    public func cut(_ data: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let available = data.count - start
        if available <= Self.minimumSize { return available }
        let limit = min(available, Self.maximumSize)
        let normal = min(Self.averageSize, limit)
        var hash: UInt64 = 0
        var index = Self.minimumSize
        let base = data.baseAddress! + start
        gear.withUnsafeBufferPointer { gear in
            while index < normal {
                hash = (hash << 1) &+ gear[Int(base[index])]
                if hash & Self.smallMask == 0 { return }
                index += 1
            }
            while index < limit {
                hash = (hash << 1) &+ gear[Int(base[index])]
                if hash & Self.largeMask == 0 { return }
                index += 1
            }
        }
        return index
    }
}
