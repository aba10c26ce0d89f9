import Foundation
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// What a backup needs for in-file delta: the policy, the signatures' keyed hash, the local
/// signature cache, and the time this run's versions are stored under.
public struct DeltaContext: Sendable {
    public let policy: DeltaPolicy
    let hasher: BlockHasher
    public let cache: SignatureCache
    public let stored: Timestamp

    public init(policy: DeltaPolicy, repository: Repository, cache: SignatureCache, stored: Timestamp) {
        self.policy = policy
        self.hasher = BlockHasher(key: repository.signatureKey)
        self.cache = cache
        self.stored = stored
    }
}

/// A piece of a delta: a run of base blocks to copy, or new (literal) bytes of a batch.
enum DeltaPiece {
    case copy(baseOffset: UInt64, length: Int)
    case literal(batch: Int, offset: Int, length: Int)
}

/// Reading a file as a delta against a base signature (rsync's algorithm): each block-sized
/// window of the file that matches a block of the base becomes a copy of the base's extents,
/// everything else new data, packed into objects of up to a megabyte. The file's own signature
/// and its content hash are made in the same pass, the hash on another core.
extension FileReader {
    enum DeltaRead {
        case stored(extents: [Extent], hash: ObjectID, size: UInt64, newBytes: UInt64, signature: BlockSignature?)
        /// More new data than the limit: nothing of it was kept.
        case overLimit(newBytes: UInt64, size: UInt64)
    }

    static let literalBatch = 1 << 20
    static let deltaBuffer = 2 << 20

    func readDelta(
        _ descriptor: Int32, path: FilePath, base index: DeltaIndex, delta: DeltaContext, expectedSize: UInt64, keepSignature: Bool,
        limit: UInt64?, statistics: inout Snapshot.Statistics
    ) async throws -> DeltaRead {
        let block = index.blockSize
        let capacity = max(Self.deltaBuffer, 4 * block)
        let taken = ReadBuffers.shared.take(capacity: capacity)
        defer { ReadBuffers.shared.give(taken) }
        let buffer = UnsafeMutableBufferPointer(rebasing: taken[0..<capacity])
        var filled = 0, position = 0
        var bufferStart: UInt64 = 0
        var atEnd = false
        var prefer = 0
        var pieces: [DeltaPiece] = []
        var newBytes: UInt64 = 0
        var over = false

        var own = SignatureBuilder(hasher: delta.hasher, blockSize: delta.policy.blockSize(forFileSize: expectedSize), expectedSize: expectedSize)
        let reuseSums = own.blockSize == block && own.strongLength == index.strongLength
        let content = ContentHasher(keys: repository.keys)
        let hashing = WorkWindow<Void>(width: 2, oneAtATime: true)

        var batch = BufferPool.shared.empty(capacity: Self.literalBatch)
        var batchIDs: [ObjectID] = []
        let stores = BackupRunner.storeWindow()

        func collect(_ result: ChunkResult?) {
            guard let result else { return }
            if result.stored.isNew {
                statistics.newObjects += 1
                statistics.bytesStored += UInt64(result.stored.storedSize)
            }
        }
        func flushBatch() async throws {
            guard !batch.isEmpty else { return }
            batchIDs.append(repository.contentID(of: batch))
            let weight = batch.count, handoff = ChunkHandoff(batch)
            batch = BufferPool.shared.empty(capacity: Self.literalBatch)
            let repository = self.repository, compressor = self.compressor
            for stored in try await stores.start(weight: weight, { try await Self.store(handoff, repository: repository, compressor: compressor) }) {
                collect(stored)
            }
        }
        func literal(_ data: UnsafeBufferPointer<UInt8>) async throws {
            guard !data.isEmpty else { return }
            newBytes += UInt64(data.count)
            if let limit, newBytes > limit { over = true }
            if over { return }
            own.update(data)
            var start = 0
            while start < data.count {
                let take = min(Self.literalBatch - batch.count, data.count - start)
                pieces.append(.literal(batch: batchIDs.count, offset: batch.count, length: take))
                batch.append(contentsOf: UnsafeBufferPointer(rebasing: data[start..<start + take]))
                start += take
                if batch.count >= Self.literalBatch { try await flushBatch() }
            }
        }
        func copy(_ data: UnsafeBufferPointer<UInt8>, at fileOffset: UInt64, block number: Int) {
            if over { return }
            if reuseSums && own.size == fileOffset && own.nextBlockOffset == fileOffset {
                let sums = index.sums(of: number)
                own.appendKnown(weak: sums.weak, strong: sums.strong)
            } else {
                own.update(data)
            }
            let offset = UInt64(number) * UInt64(block)
            if case .copy(let start, let length)? = pieces.last, start + UInt64(length) == offset {
                pieces[pieces.count - 1] = .copy(baseOffset: start, length: length + block)
            } else {
                pieces.append(.copy(baseOffset: offset, length: block))
            }
        }

        do {
            while true {
                try Task.checkCancellation()
                let before = filled
                if !atEnd { atEnd = try Self.fill(descriptor, buffer, filled: &filled, path: path) }
                progress?.read(UInt64(filled - before))
                // The content hash runs beside the search, in order, two buffers behind at most.
                if !over {
                    let fresh = ChunkHandoff(BufferPool.shared.copy(UnsafeBufferPointer(rebasing: buffer[before..<filled])))
                    try await hashing.add { content.update(taking: fresh) }
                }
                let data = UnsafeBufferPointer(buffer).prefix(filled)
                let window = UnsafeBufferPointer(rebasing: data)
                while let (at, number) = index.find(in: window, from: position, prefer: prefer) {
                    try await literal(UnsafeBufferPointer(rebasing: window[position..<at]))
                    copy(UnsafeBufferPointer(rebasing: window[at..<at + block]), at: bufferStart + UInt64(at), block: number)
                    position = at + block
                    prefer = number + 1
                }
                // Every offset up to `filled - block` was tried; the last bytes wait for more data.
                let searched = atEnd ? filled : max(position, filled - block + 1)
                try await literal(UnsafeBufferPointer(rebasing: window[position..<searched]))
                position = searched
                if atEnd { break }
                buffer.baseAddress!.update(from: buffer.baseAddress! + position, count: filled - position)
                bufferStart += UInt64(position)
                filled -= position
                position = 0
            }
            try await hashing.finish()
            let size = bufferStart + UInt64(filled)
            statistics.bytesRead += size
            if over {
                while !stores.isEmpty { collect(try await stores.next()) }
                return .overLimit(newBytes: newBytes, size: size)
            }
            try await flushBatch()
            while !stores.isEmpty { collect(try await stores.next()) }
            let extents = try Self.resolve(pieces, base: index.extents, batches: batchIDs)
            statistics.bytesDeduplicated += size - newBytes
            let signature = keepSignature ? own.finish(extents: extents) : nil
            return .stored(extents: extents, hash: content.finish(), size: size, newBytes: newBytes, signature: signature)
        } catch {
            await hashing.drain()
            await stores.drain()
            throw error
        }
    }

    /// The extents of a delta: copies become the ranges of the base's extents they cover,
    /// literals the ranges of their batches; neighbouring ranges of one object are joined.
    static func resolve(_ pieces: [DeltaPiece], base: [Extent], batches: [ObjectID]) throws -> [Extent] {
        var starts: [UInt64] = []
        starts.reserveCapacity(base.count + 1)
        var total: UInt64 = 0
        for extent in base {
            starts.append(total)
            total += UInt64(extent.length)
        }
        var extents: [Extent] = []
        func add(_ extent: Extent) {
            if let last = extents.last, last.object == extent.object, last.offset + last.length == extent.offset {
                extents[extents.count - 1].length += extent.length
            } else {
                extents.append(extent)
            }
        }
        for piece in pieces {
            switch piece {
            case .literal(let batch, let offset, let length):
                add(Extent(object: batches[batch], offset: offset, length: length))
            case .copy(let start, let length):
                guard start + UInt64(length) <= total else {
                    throw RepositoryError.damaged("a base signature's blocks reach past its extents")
                }
                // The base extent holding `start`: the last one starting at or before it.
                var low = 0, high = starts.count
                while high - low > 1 {
                    let middle = (low + high) / 2
                    if starts[middle] <= start { low = middle } else { high = middle }
                }
                var index = low
                var at = start
                var rest = length
                while rest > 0 {
                    let extent = base[index]
                    let within = Int(at - starts[index])
                    let take = min(rest, extent.length - within)
                    if take > 0 { add(Extent(object: extent.object, offset: extent.offset + within, length: take)) }
                    rest -= take
                    at += UInt64(take)
                    index += 1
                }
            }
        }
        return extents
    }
}

extension FileReader {
    struct DeltaStored {
        var content: [Extent]
        var hash: ObjectID
        var size: UInt64
        var info: DeltaInfo
        var outcome: String
    }

    /// Stores a file of a set with in-file delta as its decision says: a delta against the base
    /// signature, or the whole file with a new signature when the decision, an unreadable
    /// signature or too much new data says so.
    /// `expected`: the size the scan saw; `size`: the file's size when it was opened.
    func readWithDelta(
        _ descriptor: Int32, path: FilePath, expected: UInt64, size openedSize: Int, decision: DeltaDecision, delta: DeltaContext,
        statistics: inout Snapshot.Statistics
    ) async throws -> DeltaStored {
        var reason = decision.reason
        if decision.decision == .delta, let base = decision.base {
            var signature: DeltaIndex?
            do {
                signature = DeltaIndex(try await delta.cache.load(base.signature, from: repository), hasher: delta.hasher)
            } catch {
                reason = "full: the signature of the \(delta.policy.day(of: base.stored)) version cannot be read (\(error))"
            }
            if let signature {
                let limit = decision.fullIfOver.map { UInt64((Double(expected) * $0 / 100).rounded(.down)) }
                let read = try await readDelta(
                    descriptor, path: path, base: signature, delta: delta, expectedSize: expected, keepSignature: base.mode == .incremental,
                    limit: limit, statistics: &statistics)
                switch read {
                case .stored(let extents, let hash, let size, let newBytes, let own):
                    var ownID: ObjectID?
                    if let own { ownID = try await store(own, delta: delta, statistics: &statistics) }
                    let info = DeltaInfo(
                        isFull: false, deltas: base.previous.deltas + 1, signature: ownID, fullSignature: base.previous.fullSignature,
                        stored: delta.stored, fullStored: base.previous.fullStored, newBytes: newBytes)
                    let share = Self.percent(newBytes, of: size, near: nil)
                    return DeltaStored(
                        content: extents, hash: hash, size: size, info: info,
                        outcome: "\(decision.reason): \(ByteCountText.format(newBytes)) new (\(share))")
                case .overLimit(let newBytes, let size):
                    let ratio = decision.fullIfOver ?? 100
                    reason = "full: delta \(Self.percent(newBytes, of: size, near: ratio)) > \(Percentage(ratio))"
                    guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw FileMetadata.Failure(path: path, operation: "seek", code: errno) }
                }
            }
        }
        let signature = SignatureStream(
            SignatureBuilder(hasher: delta.hasher, blockSize: delta.policy.blockSize(forFileSize: expected), expectedSize: expected))
        let (content, hash, size) = try await readContent(descriptor, path: path, size: openedSize, statistics: &statistics, signature: signature)
        let id = try await store(try await signature.finish(extents: content), delta: delta, statistics: &statistics)
        let info = DeltaInfo(
            isFull: true, deltas: 0, signature: id, fullSignature: id, stored: delta.stored, fullStored: delta.stored, newBytes: size)
        return DeltaStored(content: content, hash: hash, size: size, info: info, outcome: reason)
    }

    /// Stores a signature object and keeps it in the local cache.
    func store(_ signature: BlockSignature, delta: DeltaContext, statistics: inout Snapshot.Statistics) async throws -> ObjectID {
        let plaintext = signature.encoded()
        let id = repository.contentID(of: plaintext)
        // Sealed once: the same box goes to the repository and to the cache.
        let box = try repository.seal(.signature, id: id, plaintext: plaintext, compressor: compressor)
        let stored = try await repository.commit(.signature, id: id, box: box)
        if stored.isNew {
            statistics.newObjects += 1
            statistics.bytesStored += UInt64(stored.storedSize)
        }
        delta.cache.save(id, box: box)
        return id
    }

    /// `1.1%`; with one decimal more when whole numbers would hide which side of `near` it is.
    static func percent(_ part: UInt64, of whole: UInt64, near: Double?) -> String {
        let value = whole == 0 ? 0 : Double(part) * 100 / Double(whole)
        if value >= 10, value.rounded() != near { return String(format: "%.0f%%", value) }
        return String(format: value.rounded() == near || value < 10 ? "%.1f%%" : "%.0f%%", value)
    }
}
