import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An estimate of the bytes a run will store, made while planning, reading little:
///
/// - **Compression**: 64 KiB samples at evenly spaced places of all the bytes to read (16 MiB
///   in all; a small file is read whole, as it is stored), compressed as the backup would.
/// - **In-file delta**: for a file planned as a delta, blocks of the file now, at up to 512
///   places, are looked up in the base version's signature (as the delta's search does, over a
///   window, so shifted data is found): the share that matches nothing is the new data.
/// - **Metadata-only changes** store no data (the content deduplicates).
/// - **Trees**: every folder on the way to a change is stored again, about 100 bytes an entry.
/// - **Objects**: each chunk's seal, about 33 bytes.
///
/// The estimate is not a bound; `upload_minimum` and `upload_maximum` are.
struct UploadEstimator {
    let repository: Repository?
    let compressor: Compressor
    /// The signatures' keyed hash and their local cache, for sets with in-file delta.
    let delta: (hasher: BlockHasher, cache: SignatureCache)?
    /// The set's in-file delta decisions, as the run will make them.
    let policy: DeltaPolicy?

    static let sampleBudget = 16 << 20
    static let sampleSize = 64 << 10
    static let deltaSamples = 512
    static let bytesPerTreeEntry: UInt64 = 100
    static let objectOverhead: UInt64 = 33

    /// The estimate for `plan`, whose scan is `root`. Reads the scan twice and keeps no list of
    /// the files (a plan of a million files held one: 150 bytes a file): first what each file
    /// will contribute before compression (its size, a delta's new share of it, nothing for a
    /// metadata-only change) and how many have each size, then what deduplicates and samples.
    func estimate(_ plan: BackupPlan, root: ScannedDirectory) async throws -> UInt64 {
        let moved = try Self.movedFingerprints(plan)
        var shares: [FilePath: UInt64] = [:]
        var total: UInt64 = 0
        var bySize: [UInt64: Int] = [:]
        try await Self.forEachFileToRead(root) { file, metadataOnly in
            guard !metadataOnly, !moved.contains(Self.movedKey(BackupPlan.Fingerprint(file.entry))) else { return }
            var bytes = file.entry.size
            if let decision = policy?.decide(size: file.entry.size, previous: file.previous), decision.decision == .delta,
                let base = decision.base, let share = await newShare(of: file.path, size: file.entry.size, base: base.signature)
            {
                bytes = UInt64(Double(bytes) * share)
                shares[file.path] = bytes
            }
            total += bytes
            if bytes >= 4096 { bySize[bytes, default: 0] += 1 }
        }
        // Leaves out what deduplicates within the run: files with the same size whose first,
        // middle and last 4 KiB are the same as another's (copies).
        var seen: Set<ObjectID> = []
        var buffer = [UInt8](repeating: 0, count: 8 + 3 * Self.probeSize)
        var sampler = Sampler(total: total, compressor: compressor)
        var stored: UInt64 = 0
        try await Self.forEachFileToRead(root) { file, metadataOnly in
            guard !metadataOnly, !moved.contains(Self.movedKey(BackupPlan.Fingerprint(file.entry))) else { return }
            let bytes = shares[file.path] ?? file.entry.size
            if (bySize[bytes] ?? 0) > 1, let probe = Self.probe(file.path, size: bytes, buffer: &buffer) {
                guard seen.insert(probe).inserted else { return }
            }
            sampler.take(file.path, bytes: bytes)
            if bytes > 0 { stored += (bytes / UInt64(Chunker.averageSize) + 1) * Self.objectOverhead }
        }
        stored += UInt64(Double(sampler.total) * sampler.ratio)
        return stored + (try treeBytes(plan, root: root))
    }

    /// A fingerprint without its change time: a moved or renamed file keeps the rest.
    static func movedKey(_ print: BackupPlan.Fingerprint) -> BackupPlan.Fingerprint {
        var key = print
        key.ctime = Timestamp(seconds: 0, nanoseconds: 0)
        return key
    }

    /// Fingerprints (size, mtime, inode) of the entries the plan removes: a new file with one of
    /// them was moved or renamed, and its content is stored already.
    static func movedFingerprints(_ plan: BackupPlan) throws -> Set<BackupPlan.Fingerprint> {
        guard plan.summary.removed > 0 else { return [] }
        var moved: Set<BackupPlan.Fingerprint> = []
        try plan.actions.forEach { action in
            if action.action == .removed, action.kind == "file", let print = action.fingerprint { moved.insert(movedKey(print)) }
        }
        return moved
    }

    static let probeSize = 4096

    /// The hash of a file's size and its first, middle and last 4 KiB (the whole file when it
    /// is no larger than that: one read).
    static func probe(_ path: FilePath, size: UInt64, buffer: inout [UInt8]) -> ObjectID? {
        let descriptor = path.withCString { Self.openRegular($0) }
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let piece = UInt64(probeSize)
        var ranges: [(offset: UInt64, length: Int)] = [(0, Int(min(size, 3 * piece)))]
        if size > 3 * piece { ranges = [(0, probeSize), (size / 2, probeSize), (size - piece, probeSize)] }
        buffer.withUnsafeMutableBytes { $0.storeBytes(of: size.littleEndian, toByteOffset: 0, as: UInt64.self) }
        var filled = 8
        for range in ranges {
            let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, range.length, off_t(range.offset)) }
            guard got >= 0 else { return nil }
            filled += got
        }
        return ObjectID(buffer.withUnsafeBytes { Hashing.sha256(UnsafeRawBufferPointer(rebasing: $0[..<filled])) })
    }

    /// Opens a regular file for sampling; nil for anything else (a file swapped for a fifo
    /// since the scan must not make the plan wait).
    static func openRegular(_ path: UnsafePointer<CChar>) -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { return -1 }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            return -1
        }
        return descriptor
    }

    /// The share compression leaves, sampled by bytes: samples at evenly spaced places of all
    /// the content to read, one file after another (so a file gets samples in proportion to
    /// its size, and a small file is read whole, as it is stored: one piece).
    struct Sampler {
        let compressor: Compressor
        let step: UInt64
        var next: UInt64
        /// The bytes taken so far.
        var total: UInt64 = 0
        var raw = 0, stored = 0

        /// `total`: about how many bytes will be taken (samples are spread over them).
        init(total: UInt64, compressor: Compressor) {
            self.compressor = compressor
            let samples = UInt64(max(1, min(UploadEstimator.sampleBudget / UploadEstimator.sampleSize, Int(total / UInt64(UploadEstimator.sampleSize)) + 1)))
            step = max(1, total / samples)
            next = step / 2
        }

        var ratio: Double { raw > 0 ? Double(stored) / Double(raw) : 1 }

        mutating func take(_ path: FilePath, bytes: UInt64) {
            let start = total
            let end = start + bytes
            total = end
            guard next < end else { return }
            let sampleSize = UInt64(UploadEstimator.sampleSize)
            let descriptor = path.withCString { UploadEstimator.openRegular($0) }
            guard descriptor >= 0 else {
                while next < end { next += step }
                return
            }
            defer { close(descriptor) }
            while next < end {
                let offset = bytes <= sampleSize ? 0 : min(next - start, bytes - sampleSize)
                var buffer = [UInt8](repeating: 0, count: Int(min(sampleSize, bytes)))
                let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
                if got > 0 {
                    buffer.removeLast(buffer.count - got)
                    raw += got
                    // At the level the file's pieces get (a larger file's chunks, level 2).
                    stored += (try? compressor.compress(buffer, pieceSize: Int(clamping: bytes)).payload.count) ?? got
                }
                next += step
                // A small file read whole counts once, however many places fall in it.
                if bytes <= sampleSize { while next < end { next += step } }
            }
        }
    }

    /// Visits the new and changed files where the scan holds them (no copy of them all), with
    /// whether only a file's status changed (its size, time and inode are the same: the plan's
    /// `change: metadata`).
    static func forEachFileToRead(_ root: ScannedDirectory, _ body: (ScannedFile, _ metadataOnly: Bool) async -> Void) async throws {
        var folders = [root]
        while let folder = folders.popLast() {
            // One node at a time: a folder of 100,000 files read whole took 75 MB.
            var children = try folder.nodes()
            while let child = try children.next() {
                switch child {
                case .directory(let inner) where inner.unchangedTree == nil: folders.append(inner)
                case .file(let file) where file.change != .unchanged:
                    await body(file, file.onlyStatusChanged)
                default: continue
                }
            }
        }
    }

    /// The share of a file that matches nothing in its base version's signature: blocks read
    /// at spread places, each looked up over a window of two blocks (shifted data is found).
    func newShare(of path: FilePath, size: UInt64, base: ObjectID) async -> Double? {
        guard let delta, let repository, size > 0,
            let signature = try? await delta.cache.load(base, from: repository, keep: false)
        else { return nil }
        let index = DeltaIndex(signature, hasher: delta.hasher)
        let block = index.blockSize
        let descriptor = path.withCString { Self.openRegular($0) }
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let blocks = max(1, Int(size / UInt64(block)))
        let samples = min(Self.deltaSamples, blocks)
        var window = [UInt8](repeating: 0, count: 2 * block)
        var unmatched = 0, tried = 0
        for sample in 0..<samples {
            let offset = UInt64(sample) * UInt64(blocks) / UInt64(samples) * UInt64(block)
            let got = window.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 2 * block, off_t(offset)) }
            guard got >= block else { continue }
            tried += 1
            let found = window.withUnsafeBufferPointer { data in
                index.find(in: UnsafeBufferPointer(rebasing: data[0..<got]), from: 0, prefer: Int(offset) / block)
            }
            // A match within the first block's span: this block's bytes are in the base.
            if found.map({ $0.offset >= block }) ?? true { unmatched += 1 }
        }
        guard tried > 0 else { return nil }
        // A changed block costs a block of new data at least; a delta's smallest is a block.
        return min(1, max(Double(unmatched) / Double(tried), Double(block) / Double(size)))
    }

    /// Trees stored again: every folder with a change in or under it (every folder the walk
    /// visits: the others keep their trees), at its entries' size.
    func treeBytes(_ plan: BackupPlan, root: ScannedDirectory) throws -> UInt64 {
        guard !plan.actions.isEmpty || plan.createsRepository else { return 0 }
        var total: UInt64 = 0
        var folders = [root]
        while let folder = folders.popLast() {
            var children = try folder.nodes(), count = 0
            while let child = try children.next() {
                count += 1
                if case .directory(let inner) = child, inner.unchangedTree == nil { folders.append(inner) }
            }
            total += UInt64(count + (try folder.removed.count) / 4 + 1) * Self.bytesPerTreeEntry + Self.objectOverhead
        }
        return total
    }
}
