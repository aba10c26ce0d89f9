/// Writes a repository's objects into packs, and the index files that list the packs, in the
/// order that keeps the repository valid at every moment: objects into a pack as they come
/// (`PackBuilder`), the pack committed in the background while the next one fills, then an
/// index file once enough packs are stored. A crash leaves at most packs no index lists, which
/// opening the repository finds from their headers.
///
/// One `Repository` owns it and uses it on its actor only: every method that suspends takes
/// the repository as its isolation, and a stored pack goes into the repository's index there.
final class PackWriter {
    let storage: any StorageBackend
    let codec: ObjectCodec
    /// Where index files written are kept too (a remote repository's `RepositoryCache`).
    let cache: RepositoryCache?

    private var builder = PackBuilder()
    /// Held while a task changes `builder`: writing to a pack's upload suspends, and the
    /// actor lets other tasks in meanwhile. Waiting tasks, in order.
    private var builderHeld = false
    private var builderWaiters: [CheckedContinuation<Void, Never>] = []
    /// Objects of the pack being filled.
    private(set) var pending: Set<ObjectID> = []
    /// Packs being committed in the background, with their objects (a set each, freed with
    /// the upload: one dictionary of them all grew to 8 MB).
    private var uploads: [(pack: ObjectID, entries: [PackEntry], ids: Set<ObjectID>, task: Task<Void, Error>)] = []
    /// Stored packs that no index file lists yet.
    var unindexedPacks: [(id: ObjectID, entries: [PackEntry])] = []

    /// Packs committed at once in the background (flushed and renamed into place) while the
    /// next one fills.
    static let uploadsInFlight = 1
    /// An index file is written once this many packs are stored without one, or packs with
    /// this many objects (a million small files filled 32 packs: their entries were held to the
    /// end of the run, 60 MB, and encoded at once, 60 MB more).
    static let packsPerIndexFile = 32
    static let entriesPerIndexFile = 65_536

    init(storage: any StorageBackend, codec: ObjectCodec, cache: RepositoryCache? = nil) {
        self.storage = storage
        self.codec = codec
        self.cache = cache
    }

    /// Whether `id` is in the pack being filled or in one being committed.
    func holds(_ id: ObjectID) -> Bool { pending.contains(id) || committing(id) != nil }

    /// The pack of an object being committed, if it is.
    func committing(_ id: ObjectID) -> ObjectID? { uploads.first { $0.ids.contains(id) }?.pack }

    /// Adds a sealed box to the pack being filled; false when `known` says, once the pack is
    /// held, that the object is stored already (another task stored it meanwhile).
    func add(_ kind: ObjectKind, id: ObjectID, box: [UInt8], known: (ObjectID) -> Bool, on repository: isolated Repository) async throws -> Bool {
        // Back-pressure: while packs wait to be written, nothing more is taken in. (Callers
        // suspended here or in writePack would otherwise let others fill pack after pack.)
        while uploads.count > Self.uploadsInFlight { try await completeOldestUpload(on: repository) }
        await holdBuilder()
        defer { releaseBuilder() }
        if known(id) { return false }
        // The builder is used by this task alone until it is released: taken out across the
        // upload's write (its entries are then not copied on change), and put back whatever
        // happens, with a failure it recorded.
        var changing = builder
        builder = PackBuilder()
        defer { builder = changing }
        try await changing.append(kind, id: id, box: box, to: storage)
        pending.insert(id)
        if changing.isFull {
            builder = changing
            // What writeHeldPack leaves (an empty builder, or one that failed) is what goes back,
            // also when it throws: never the full one whose upload is committing.
            defer { changing = builder }
            try await writeHeldPack(on: repository)
        }
        return true
    }

    /// Waits until no other task changes the pack being filled, then holds it.
    private nonisolated(nonsending) func holdBuilder() async {
        guard builderHeld else {
            builderHeld = true
            return
        }
        await withCheckedContinuation { builderWaiters.append($0) }
    }

    /// Hands the pack being filled to the next waiting task, if any.
    private func releaseBuilder() {
        if builderWaiters.isEmpty { builderHeld = false } else { builderWaiters.removeFirst().resume() }
    }

    /// Finishes the pack being filled and commits it in the background.
    func writePack(on repository: isolated Repository) async throws {
        await holdBuilder()
        defer { releaseBuilder() }
        try await writeHeldPack(on: repository)
    }

    /// `writePack` by the task that holds the builder.
    private func writeHeldPack(on repository: isolated Repository) async throws {
        var finishing = builder
        defer { builder = finishing }
        guard let pack = try await finishing.finish(codec: codec) else { return }
        let upload = pack.upload
        uploads.append((pack.id, pack.entries, pending, Task { try await upload.commit() }))
        pending = []
        while uploads.count > Self.uploadsInFlight { try await completeOldestUpload(on: repository) }
    }

    /// Writes the packs, without an index: what a crash between the two leaves.
    func writePacks(on repository: isolated Repository) async throws {
        try await writePack(on: repository)
        while !uploads.isEmpty { try await completeOldestUpload(on: repository) }
    }

    /// Waits for the oldest background commit and moves its pack into the index.
    private func completeOldestUpload(on repository: isolated Repository) async throws {
        guard let upload = uploads.first else { return }
        try await upload.task.value
        // Several callers may wait for the same commit (a full pack, a flush, a read of one of
        // its objects): the first to resume moves it into the index. Until then it counts
        // as in flight, so the pack after it cannot start committing too.
        guard uploads.first?.pack == upload.pack else { return }
        uploads.removeFirst()
        repository.index.add(pack: upload.pack, entries: upload.entries)
        unindexedPacks.append((upload.pack, upload.entries))
        keepTreesCached(upload.pack, entries: upload.entries)
        FaultInjection.reach("pack-written")
        if unindexedPacks.count >= Self.packsPerIndexFile || unindexedPacks.reduce(0, { $0 + $1.entries.count }) >= Self.entriesPerIndexFile {
            try await writeIndex()
        }
    }

    /// Tree bytes asked back into the system's cache so far (`keepTreesCached`): at most
    /// `Repository.treeCacheBudget` a run.
    private var treeBytesKept = 0

    /// Asks the storage to read the trees of a pack just stored back into the system's cache,
    /// in the background. A local folder writes packs past the cache, so the next command
    /// (a plan, a listing, the next backup) read every tree from the disk again, one small
    /// range at a time: a backup of the real tree with nothing changed took 1.3 s instead of
    /// 1.0 s right after the backup that stored them. Storages that cannot do nothing.
    private func keepTreesCached(_ pack: ObjectID, entries: [PackEntry]) {
        guard treeBytesKept < Repository.treeCacheBudget else { return }
        // Neighbours within 32 KiB are read as one, as `Repository.prefetchTrees` reads them.
        let ranges = RepositoryIndex.joined(entries.filter { $0.kind == .tree }.map { $0.offset..<$0.offset + $0.length }, gap: 32 << 10)
        guard !ranges.isEmpty else { return }
        treeBytesKept += ranges.reduce(0) { $0 + $1.count }
        let storage = self.storage, key = PackFormat.key(for: pack)
        BlockingIO.start { storage.prefetch(key, ranges: ranges) }
    }

    /// Writes an index file listing the stored packs no index file lists yet.
    nonisolated(nonsending) func writeIndex() async throws {
        guard !unindexedPacks.isEmpty else { return }
        let batch = unindexedPacks
        unindexedPacks = []
        do {
            try await writeIndexFile(listing: batch)
        } catch {
            unindexedPacks = batch + unindexedPacks
            throw error
        }
        FaultInjection.reach("index-written")
    }

    /// Writes one index file listing `packs` (a prune lists every pack that stays, 1,000 per file).
    nonisolated(nonsending) func writeIndexFile(listing packs: [(id: ObjectID, entries: [PackEntry])]) async throws {
        let id = try ObjectID.random()
        let box = try codec.seal(.index, id: id, plaintext: RepositoryIndex.encode(packs), compressor: Compressor(.default))
        try await storage.put("index/\(id.hex)", box)
        cache?.keep("index/\(id.hex)", box)
        writtenIndexFiles.insert("index/\(id.hex)")
    }

    /// The index files this process wrote, less those its prune removed: what they list is in
    /// its index already (`Repository.reloadIndexIfChanged` does not count them as another
    /// host's).
    private(set) var writtenIndexFiles: Set<String> = []

    /// Index files removed by this process (its prune), no longer expected.
    func forgetIndexFiles(_ keys: some Sequence<String>) {
        writtenIndexFiles.subtract(keys)
    }

    /// Writes everything added so far: the last pack, then the index file that lists it.
    func flush(on repository: isolated Repository) async throws {
        try await writePacks(on: repository)
        try await writeIndex()
    }
}
