import Foundation

/// Storing and loading objects.
extension Repository {
    public struct Stored: Sendable {
        public var id: ObjectID
        /// False when the object was already in the repository: deduplicated.
        public var isNew: Bool
        /// The bytes its sealed box takes at the destination (0 when not new).
        public var storedSize: Int
    }

    public func contains(_ id: ObjectID) -> Bool {
        index.contains(id) || writer.holds(id)
    }

    public nonisolated func contentID<D: ContiguousBytes>(of plaintext: D) -> ObjectID {
        codec.contentID(of: plaintext)
    }

    /// Stores a content-addressed object (file data or a tree) unless it is already there.
    public func store(_ kind: ObjectKind, _ plaintext: [UInt8]) async throws -> Stored {
        let id = codec.contentID(of: plaintext)
        if contains(id) { return Stored(id: id, isNew: false, storedSize: 0) }
        let box = try codec.seal(kind, id: id, plaintext: plaintext, compressor: compressor)
        return try await add(kind, id: id, box: box)
    }

    /// Seals an object for `commit`, outside the actor, so several can be sealed at once.
    public nonisolated func seal(_ kind: ObjectKind, id: ObjectID, plaintext: [UInt8], compressor: Compressor) throws -> [UInt8] {
        try codec.seal(kind, id: id, plaintext: plaintext, compressor: compressor)
    }

    /// Adds a box sealed by `seal` to the pack being filled, unless the object is stored already.
    public func commit(_ kind: ObjectKind, id: ObjectID, box: [UInt8]) async throws -> Stored {
        if contains(id) { return Stored(id: id, isNew: false, storedSize: 0) }
        return try await add(kind, id: id, box: box)
    }

    /// The pack being filled is shared by every task that stores: a write cut short by its
    /// caller's cancellation (a stop) would leave the pack's upload failed for all of them, so
    /// the write runs on a task of its own, which a caller's cancellation does not reach;
    /// on the caller's task where the storage's writes run to their end anyway (a local
    /// folder: one task less an object, 5% of a backup of small files).
    private func add(_ kind: ObjectKind, id: ObjectID, box: [UInt8]) async throws -> Stored {
        let added = storage.capabilities.writesRunToCompletion
            ? try await addToPack(kind, id: id, box: box)
            : try await Task { try await addToPack(kind, id: id, box: box) }.value
        guard added else {
            return Stored(id: id, isNew: false, storedSize: 0)
        }
        // The next run reads the trees of this one: kept for it (used only once the index lists them).
        if kind == .tree { cache?.keep("trees/\(id.hex)", box) }
        return Stored(id: id, isNew: true, storedSize: box.count)
    }

    /// Adds a box to the pack being filled; false when it is stored already.
    private func addToPack(_ kind: ObjectKind, id: ObjectID, box: [UInt8]) async throws -> Bool {
        try await writer.add(kind, id: id, box: box, known: { index.contains($0) || writer.holds($0) }, on: self)
    }

    /// Loads and verifies an object: its seal, its kind, and for content its hash. Only the
    /// lookup runs on the actor: reading, decrypting and hashing run on the caller's task, so
    /// several loads use several cores.
    ///
    /// `hashChecked: false` leaves out the hash, for a caller that checks a hash over the
    /// plaintext itself (an in-file delta's restore hashes the whole file it writes): the seal
    /// still proves the object is the one stored under its id.
    public nonisolated func load(_ kind: ObjectKind, _ id: ObjectID, hashChecked: Bool = true) async throws -> [UInt8] {
        let (key, range) = try await locate(kind, id)
        // Trees are read by every backup, plan and prune: kept on this machine when the
        // repository is remote (only those the index lists), checked like a stored box.
        if kind == .tree, let cache {
            if let box = cache.bytes("trees/\(id.hex)") {
                if let plaintext = try? open(kind, id: id, box: box, where: cache.directory) { return plaintext }
                cache.forget("trees/\(id.hex)")
            }
            do {
                let box = try await storage.read(key, range: range)
                let plaintext = try box.withUnsafeBytes { try open(kind, id: id, box: $0, where: key, hashChecked: hashChecked) }
                cache.keep("trees/\(id.hex)", box.bytes)
                return plaintext
            } catch StorageError.notFound {
                throw RepositoryError.missingObject("the pack \(key) holding \(kind.name) \(id.short) is gone")
            }
        }
        do {
            let box = try await storage.read(key, range: range)
            return try box.withUnsafeBytes { try open(kind, id: id, box: $0, where: key, hashChecked: hashChecked) }
        } catch StorageError.notFound {
            throw RepositoryError.missingObject("the pack \(key) holding \(kind.name) \(id.short) is gone")
        }
    }

    /// Where an object's sealed box is stored. An object of a pack still being written is read
    /// once that pack is stored: packs go to the storage as they fill, and a backup reads
    /// back little of what it writes.
    private func locate(_ kind: ObjectKind, _ id: ObjectID) async throws -> (key: String, range: Range<Int>) {
        while writer.holds(id) { try await writePacks() }
        guard let location = index.location(of: id) else {
            throw RepositoryError.missingObject("\(kind.name) \(id.short) is not in the index")
        }
        guard location.kind == kind else {
            throw RepositoryError.damaged("object \(id.short) is a \(location.kind.name), not a \(kind.name)")
        }
        return (PackFormat.key(for: location.pack), location.offset..<location.offset + location.length)
    }

    /// Opens a sealed box: its seal, and for content its hash.
    public nonisolated func open(_ kind: ObjectKind, id: ObjectID, box: [UInt8], where place: String, hashChecked: Bool = true) throws -> [UInt8] {
        try box.withUnsafeBytes { try open(kind, id: id, box: $0, where: place, hashChecked: hashChecked) }
    }

    /// The same, for a box in memory the caller owns (a read buffer of the storage).
    public nonisolated func open(_ kind: ObjectKind, id: ObjectID, box: UnsafeRawBufferPointer, where place: String, hashChecked: Bool = true) throws -> [UInt8] {
        let plaintext = try codec.open(kind, id: id, box: box, where: place)
        if hashChecked, kind == .blob || kind == .tree || kind == .signature, codec.contentID(of: plaintext) != id {
            throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) does not match its hash")
        }
        return plaintext
    }

    /// Writes the packs, without an index: what a crash between the two leaves.
    func writePacks() async throws {
        try await writer.writePacks(on: self)
    }

    /// Writes everything stored so far: the last pack, then the index that lists it.
    public func flush() async throws {
        try await writer.flush(on: self)
    }

    // MARK: Files of their own (snapshots, locks)

    /// Seals `plaintext` into `folder/<random id>` and returns the id.
    func saveFile(_ kind: ObjectKind, in folder: String, _ plaintext: [UInt8], id: ObjectID? = nil) async throws -> ObjectID {
        let id = try id ?? .random()
        let box = try codec.seal(kind, id: id, plaintext: plaintext, compressor: Compressor(.default))
        try await storage.put("\(folder)/\(id.hex)", box)
        if kind == .snapshot { cache?.keep("\(folder)/\(id.hex)", box) }
        return id
    }

    func loadFile(_ kind: ObjectKind, in folder: String, id: ObjectID) async throws -> [UInt8] {
        let key = "\(folder)/\(id.hex)"
        return try await storage.load(key, cache: kind == .snapshot ? cache : nil) { [codec] in try codec.open(kind, id: id, box: $0, where: key) }
    }

    /// Ids of the files in `folder` whose names are ids.
    func fileIDs(in folder: String) async throws -> [ObjectID] {
        try await storage.listAll(prefix: folder + "/").compactMap { ObjectID(hex: String($0.key.dropFirst(folder.count + 1))) }
    }

    public var objectCount: Int { index.count }

    /// How many objects of each kind the index lists, and their stored bytes.
    public func storedTotals() -> [ObjectKind: (count: Int, bytes: Int)] { index.totals() }

    /// The objects' lengths as stored (compressed and sealed) added up; objects the index does
    /// not list count nothing.
    public func storedBytes(of ids: [ObjectID]) -> Int { ids.reduce(0) { $0 + (index.location(of: $1)?.length ?? 0) } }

    /// The objects of each indexed pack, as the index lists them.
    func packContents() throws -> [ObjectID: [PackEntry]] { try index.entriesByPack() }
}
