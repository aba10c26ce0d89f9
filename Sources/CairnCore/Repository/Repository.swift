import Foundation

/// An open repository: one backup set's data at its destination.
///
/// Data is written in the order that keeps it valid at every moment: objects into packs, then
/// the index files that list the packs, then the snapshot that refers to them (the commit
/// point). A crash leaves at most packs that no index lists; opening the repository finds them
/// from their headers, so their data is not stored again.
public actor Repository {
    public nonisolated let storage: any StorageBackend
    public nonisolated let descriptor: RepositoryDescriptor
    /// What the format derives from the master key: the codec and the chunker's, signatures'
    /// and content hash's keys.
    public nonisolated let keys: RepositoryKeys
    nonisolated var codec: ObjectCodec { keys.codec }
    let master: MasterKey?
    /// The key file that opened the repository, if it is encrypted.
    public nonisolated let openedWith: String?
    /// The clock, host and user that locks, keys and snapshots record.
    public nonisolated let run: RunEnvironment
    /// Local copies of the files that never change (a repository on an object store); nil: none.
    public nonisolated let cache: RepositoryCache?

    var compressor = Compressor(.default)
    var index: RepositoryIndex
    /// Writes objects into packs and index files.
    let writer: PackWriter
    /// Damage found while opening, each a sentence naming the file (commands print them as
    /// warnings): damaged key files skipped, index files ignored, packs without a readable
    /// header, snapshots that cannot be read.
    public private(set) var warnings: [String] = []
    /// The index files read into `index`.
    var loadedIndexFiles: Set<String> = []
    /// Index files that could not be read (their packs were read from their headers).
    public private(set) var damagedIndexFiles: [String] = []
    /// Packs whose header could not be read, that no index lists.
    public private(set) var damagedPacks: [String] = []
    /// Leases this process holds on the repository (`lock`), confirmed before commits.
    var heldLeases: [RepositoryLock] = []
    /// Snapshot files that could not be read, with why, as `snapshots()` last found them.
    var damagedSnapshots: [(id: ObjectID, reason: String)] = []
    /// Snapshot files a retagged copy replaces, found by the last `snapshots()`: prune removes them.
    var supersededSnapshots: [ObjectID] = []

    /// Snapshot files that could not be read, with why, as `snapshots()` last found them.
    public var unreadableSnapshots: [(id: ObjectID, reason: String)] { damagedSnapshots }
    init(
        storage: any StorageBackend, descriptor: RepositoryDescriptor, master: MasterKey?, openedWith: String?, run: RunEnvironment,
        cache: RepositoryCache? = nil
    ) throws {
        self.storage = storage
        self.cache = cache
        self.run = run
        self.descriptor = descriptor
        self.master = master
        self.openedWith = openedWith
        keys = try RepositoryKeys(encryption: descriptor.encryption, master: master, location: storage.location)
        writer = PackWriter(storage: storage, codec: keys.codec, cache: cache)
        index = RepositoryIndex(spillFolder: run.temporaryDirectory)
    }

    public var encryptionAlgorithm: AEAD.Algorithm? { AEAD.Algorithm(rawValue: descriptor.encryption) }

    /// The secret the chunker's gear table comes from (fixed when the repository is not encrypted).
    public nonisolated var chunkerKey: [UInt8] { keys.chunkerKey }

    /// The key of block signatures' strong hashes (in-file delta).
    public nonisolated var signatureKey: [UInt8] { keys.signatureKey }

    /// What a file's content hash starts with (`ContentHasher`).
    public nonisolated var contentHashPrefix: [UInt8] { keys.contentHashPrefix }

    public func setCompression(_ setting: Compression) {
        compressor = Compressor(setting)
    }

    // MARK: Creating and opening

    /// A new repository's identity and first key, made before anything is written: the key
    /// derivation (scrypt, 64 MiB) can then run before a backup's scan fills memory.
    public struct Prepared: Sendable {
        let id: ObjectID
        let algorithm: AEAD.Algorithm?
        let master: MasterKey?
        let keyFile: KeyFile?

        public static func make(
            algorithm: AEAD.Algorithm?, passphrase: [UInt8]?, scrypt: ScryptParameters = .standard, run: RunEnvironment, location: String
        ) throws -> Prepared {
            let id = try ObjectID.random()
            guard let algorithm else { return Prepared(id: id, algorithm: nil, master: nil, keyFile: nil) }
            guard let passphrase else { throw RepositoryError.keyNeeded(location) }
            let key = try MasterKey.random()
            let file = try KeyFile.wrap(key, passphrase: passphrase, algorithm: algorithm, repositoryID: id.hex, parameters: scrypt, label: "first key", run: run)
            return Prepared(id: id, algorithm: algorithm, master: key, keyFile: file)
        }
    }

    /// Creates a repository in an empty place. `passphrase` is nil exactly when `algorithm` is nil
    /// (encryption `none`).
    public static func create(
        storage: any StorageBackend, algorithm: AEAD.Algorithm?, passphrase: [UInt8]?,
        scrypt: ScryptParameters = .standard, run: RunEnvironment = .live()
    ) async throws -> Repository {
        let prepared = try Prepared.make(algorithm: algorithm, passphrase: passphrase, scrypt: scrypt, run: run, location: storage.location)
        return try await create(storage: storage, prepared: prepared, run: run)
    }

    /// Creates a repository from what `Prepared.make` made.
    public static func create(storage: any StorageBackend, prepared: Prepared, run: RunEnvironment = .live(), cached: Bool = false) async throws -> Repository {
        let descriptor = RepositoryDescriptor(id: prepared.id, encryption: prepared.algorithm?.rawValue ?? "none", created: run.now)
        var key: (name: String, bytes: [UInt8])?
        if let file = prepared.keyFile {
            let made = (name: "keys/" + (try ObjectID.random()).hex, bytes: try KeyFile.encode(file))
            try await storage.put(made.name, made.bytes)
            key = made
        }
        // The descriptor last, written only if absent: a folder without it is not yet a
        // repository, so a failed creation can simply be run again. Where another repository
        // is found (the caller looked a moment ago, but another host may have been quicker),
        // the key file just written is removed: it opens nothing there.
        let created: Bool
        do {
            created = try await storage.putIfAbsent(RepositoryDescriptor.fileName, try descriptor.encoded())
        } catch {
            if let key { try? await storage.delete(key.name) }
            throw error
        }
        guard created else {
            if let key { try? await storage.delete(key.name) }
            throw RepositoryError.alreadyExists(storage.location)
        }
        let cache = cached ? RepositoryCache.of(repository: descriptor.id, run: run) : nil
        if let key { cache?.keep(key.name, key.bytes) }
        return try Repository(
            storage: storage, descriptor: descriptor, master: prepared.master, openedWith: key?.name, run: run, cache: cache)
    }

    /// Opens a repository with the user key `passphrase` (nil for an unencrypted repository),
    /// loads its index and finds packs that no index lists yet. With `cached`, the files that
    /// never change are kept on this machine (`RepositoryCache`): for storages where each
    /// request costs (object stores).
    public static func open(storage: any StorageBackend, passphrase: [UInt8]?, run: RunEnvironment = .live(), cached: Bool = false) async throws -> Repository {
        let descriptor = try await readDescriptor(storage)
        let cache = cached ? RepositoryCache.of(repository: descriptor.id, run: run) : nil
        // Listed while the key is derived (scrypt: about 0.2 s of one core), which they do not need.
        async let listing = IndexListing.of(storage)
        var warnings: [String] = []
        var master: MasterKey?
        var opened: String?
        if descriptor.encryption == "none" {
            guard passphrase == nil else { throw RepositoryError.noKeyNeeded(storage.location) }
        } else {
            guard let passphrase else { throw RepositoryError.keyNeeded(storage.location) }
            guard let algorithm = AEAD.Algorithm(rawValue: descriptor.encryption) else {
                throw RepositoryError.unsupported("the repository at \(storage.location) uses the unknown encryption \(descriptor.encryption)")
            }
            let keys = try await storage.listAll(prefix: "keys/")
            cache?.retain(folder: "keys", keys: Set(keys.map(\.key)))
            var foreign: Set<String> = []
            for item in keys {
                // A damaged key file is skipped: another key may open the repository.
                do {
                    let file = try await storage.load(item.key, cache: cache) { try KeyFile.decode($0, at: item.key) }
                    if let key = try file.unwrap(passphrase: passphrase, algorithm: algorithm, repositoryID: descriptor.id) {
                        master = key
                        opened = item.key
                        break
                    }
                    if let bound = file.repository, bound != descriptor.id { foreign.insert(bound) }
                } catch {
                    warnings.append("\(error)")
                }
            }
            guard master != nil else {
                if keys.isEmpty { throw RepositoryError.damaged("the repository at \(storage.location) has no key files (keys/ is empty)") }
                if let bound = foreign.first {
                    throw RepositoryError.damaged(
                        "the descriptor \(storage.location)/\(RepositoryDescriptor.fileName) is damaged: its id \(descriptor.id.prefix(16)) is not the id \(bound.prefix(16)) its key files were made for")
                }
                throw RepositoryError.wrongKey(storage.location, tried: keys.count, damaged: warnings)
            }
        }
        let repository = try Repository(storage: storage, descriptor: descriptor, master: master, openedWith: opened, run: run, cache: cache)
        await repository.noteWarnings(warnings)
        try await repository.loadIndex(try await listing)
        return repository
    }

    static func readDescriptor(_ storage: any StorageBackend) async throws -> RepositoryDescriptor {
        let bytes: [UInt8]
        do {
            bytes = try await storage.get(RepositoryDescriptor.fileName)
        } catch StorageError.notFound {
            throw RepositoryError.notARepository(storage.location)
        }
        return try RepositoryDescriptor.decode(bytes, at: storage.location)
    }

    /// Whether `storage` holds a repository (its descriptor file).
    public static func exists(in storage: any StorageBackend) async throws -> Bool {
        try await storage.stat(RepositoryDescriptor.fileName) != nil
    }

    func noteWarnings(_ more: [String]) {
        warnings += more
    }

    /// The index files and the packs, listed in that order: a pack written after the first
    /// listing, its index file with it, is in the second, and its header is read. Made while
    /// the key is derived, it stops between pages when the open fails first (a wrong key: an
    /// object store's listing of a large repository is many requests).
    struct IndexListing: Sendable {
        var indexFiles: [StorageItem]
        var packs: [StorageItem]

        static func of(_ storage: any StorageBackend) async throws -> IndexListing {
            let indexFiles = try await storage.listAll(prefix: "index/", stopsWhenCancelled: true)
            return IndexListing(indexFiles: indexFiles, packs: try await storage.listAll(prefix: "data/", stopsWhenCancelled: true))
        }
    }

    /// Loads the index files, then reads the headers of the packs none of them lists (packs
    /// of a run that ended before its index, or of a damaged index file). The index is
    /// redundant with the packs' headers: a damaged index file is ignored, with a warning,
    /// and its packs are found from their headers. `listing`: made earlier (while the key was
    /// derived). An index file gone since (another host's prune replaced it) means packs were
    /// written since too: the packs are listed again, so those that replaced its packs are
    /// read from their headers.
    func loadIndex(_ listing: IndexListing? = nil) async throws {
        let listed: IndexListing
        if let listing { listed = listing } else { listed = try await IndexListing.of(storage) }
        let indexFiles = listed.indexFiles
        loadedIndexFiles = Set(indexFiles.map(\.key))
        cache?.retain(folder: "index", keys: loadedIndexFiles)
        var indexFileGone = false
        for item in indexFiles {
            let name = String(item.key.dropFirst("index/".count))
            guard let id = ObjectID(hex: name) else { continue }
            do {
                let packs = try await storage.load(item.key, cache: cache) { [codec] box in
                    try RepositoryIndex.decode(try codec.open(.index, id: id, box: box, where: item.key), what: item.key)
                }
                for pack in packs { index.add(pack: pack.id, entries: pack.entries) }
            } catch StorageError.notFound {
                indexFileGone = true
                continue  // removed since it was listed (a prune replaced it): its packs are read below
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                damagedIndexFiles.append(item.key)
                warnings.append(
                    "the index file \(item.key) is damaged (\(Self.reason(error))): ignored, its packs are read from their headers; 'cairn repair SET --apply' writes a new index")
            }
        }
        // Packs written by a run that ended before its index: read their headers.
        let packs = indexFileGone ? try await storage.listAll(prefix: "data/") : listed.packs
        for item in packs {
            guard let id = ObjectID(hex: String(item.key.split(separator: "/").last ?? "")), !index.containsPack(id) else { continue }
            do {
                let entries = try await PackHeader.read(from: storage, key: item.key, size: item.size, codec: codec)
                index.add(pack: id, entries: entries)
                writer.unindexedPacks.append((id, entries))
            } catch StorageError.notFound {
                continue
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                damagedPacks.append(item.key)
                warnings.append(
                    "the pack \(item.key) has a damaged header (\(Self.reason(error))) and no index lists it: its objects cannot be used; 'cairn verify' says what that affects")
            }
        }
        // Trees of packs deleted since (by any host's prune) leave this machine's cache.
        cache?.retain(folder: "trees") { [index] name in ObjectID(hex: name).map(index.contains) ?? false }
    }

    /// How many index files the repository had when its index was loaded.
    var indexFileCount: Int { loadedIndexFiles.count }

    /// Loads the index again when its files changed since it was loaded, other than by this
    /// process's own writes (a prune ran between a backup's plan and its lease; a backup ran
    /// between a prune's opening and its lease): a backup must not count on objects of packs
    /// deleted since, and a prune must know every pack and snapshot it decides about. One
    /// listing when nothing changed. The index files expected are those loaded and those this
    /// process wrote since, less those its prune removed: one of them gone (another host's
    /// prune) is a change too.
    public func reloadIndexIfChanged() async throws {
        let now = Set(try await storage.listAll(prefix: "index/").map(\.key))
        guard now != loadedIndexFiles.union(writer.writtenIndexFiles) else { return }
        index = RepositoryIndex(spillFolder: run.temporaryDirectory)
        writer.unindexedPacks = []
        damagedIndexFiles = []
        damagedPacks = []
        try await loadIndex()
    }

    /// An error's text without the advice the repository's errors end with.
    static func reason(_ error: any Error) -> String {
        switch error {
        case RepositoryError.damaged(let what), RepositoryError.missingObject(let what): return what
        default: return "\(error)"
        }
    }
}

extension StorageBackend {
    /// `key`'s file made into a value by `open`, through `cache` when there is one.
    func load<Value>(_ key: String, cache: RepositoryCache?, open: ([UInt8]) throws -> Value) async throws -> Value {
        if let cache { return try await cache.load(key, from: self, open: open) }
        return try open(try await get(key))
    }
}

extension KeyFile {
    static func encode(_ file: KeyFile) throws -> [UInt8] {
        Array(try RepositoryDescriptor.encoder.encode(file)) + [0x0A]
    }

    static func decode(_ bytes: [UInt8], at place: String) throws -> KeyFile {
        let file: KeyFile
        do {
            file = try RepositoryDescriptor.decoder.decode(KeyFile.self, from: Data(bytes))
        } catch {
            throw RepositoryError.damaged("the key file \(place) cannot be read (it is not a key file's JSON)")
        }
        if let damage = file.damage() { throw RepositoryError.damaged("the key file \(place) is damaged: \(damage)") }
        return file
    }
}
