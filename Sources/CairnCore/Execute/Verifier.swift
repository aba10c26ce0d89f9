import Foundation

/// `cairn verify`: checks that every snapshot's trees and data are present and intact, and says
/// for each damaged or missing object which files of which snapshots it affects.
public struct Verifier {
    public struct Damage: Sendable, Equatable {
        public var object: ObjectID?
        public var message: String
        /// `(snapshot, path)` of each file or folder that needs the object.
        public var affected: [(snapshot: ObjectID, path: FilePath)]

        public static func == (l: Damage, r: Damage) -> Bool {
            l.object == r.object && l.message == r.message && l.affected.map(\.path) == r.affected.map(\.path)
        }
    }

    public struct Report: Sendable {
        public var snapshots = 0
        public var trees = 0
        public var dataObjects = 0
        /// In-file delta signatures the snapshots refer to.
        public var signatures = 0
        public var packsRead = 0
        /// Key files checked (each is sealed with a checksum, so damage is found without its secret).
        public var keyFiles = 0
        public var bytesRead = 0
        public var damages: [Damage] = []
    }

    /// One of `count` equal ranges of pack names (`index` from 0): a cycle of `count` runs,
    /// one for each slice, reads every pack there was when the cycle began, and packs made
    /// since are read when their slice comes (names are hashes, so slices are about equal).
    public struct Slice: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var count: Int

        public init(_ index: Int, of count: Int) {
            precondition(count > 0 && index >= 0 && index < count)
            self.index = index
            self.count = count
        }

        public func contains(_ pack: ObjectID) -> Bool {
            Int(pack.a.multipliedFullWidth(by: UInt64(count)).high) == index
        }

        /// `3/10`, counting from 1.
        public var description: String { "\(index + 1)/\(count)" }
    }

    public let repository: Repository

    public init(repository: Repository) {
        self.repository = repository
    }

    /// Checks the structure, and with `readData` (a share from 0 to 1) decrypts and hashes every
    /// object of that share of the packs, chosen at random.
    /// With `slice`, the packs of that slice are read instead of a random share.
    /// `progress` is made once the packs to read are known (their count and bytes), and told
    /// of each pack read.
    public func run(
        readData: Double?, slice: Slice? = nil, progress makeProgress: ((_ packs: Int, _ bytes: UInt64) -> (any ProgressSink)?)? = nil
    ) async throws -> Report {
        var report = Report()
        var bad: [ObjectID: String] = [:]
        var snapshotsOK: [SnapshotRecord] = []
        for id in try await repository.fileIDs(in: "snapshots") {
            do {
                snapshotsOK.append(SnapshotRecord(id: id, snapshot: try await repository.snapshot(id)))
            } catch {
                report.damages.append(Damage(object: id, message: "snapshot \(id.short) cannot be read: \(error)", affected: []))
            }
        }
        report.snapshots = snapshotsOK.count

        // Files that opening the repository passed over: damaged index files (their packs were
        // read from their headers), packs whose header cannot be read, damaged key files.
        for key in await repository.damagedIndexFiles {
            report.damages.append(Damage(object: nil, message: "the index file \(key) cannot be read; its packs were found from their headers ('cairn repair --apply' rewrites the index)", affected: []))
        }
        for key in await repository.damagedPacks {
            report.damages.append(Damage(object: nil, message: "the pack \(key) has a damaged header and no index lists it: its objects cannot be used", affected: []))
        }
        for key in try await repository.keys() {
            guard let damage = key.damage else { continue }
            report.damages.append(Damage(object: nil, message: "\(damage) ('cairn key remove' or 'cairn repair --apply --remove-damaged' removes it)", affected: []))
        }
        report.keyFiles = try await repository.keys().count

        // Packs the index names must exist and be long enough for their objects.
        let byPack = try await repository.packContents()
        var packSizes: [ObjectID: Int] = [:]
        for (pack, entries) in byPack {
            let key = PackFormat.key(for: pack)
            guard let item = try await repository.storage.stat(key) else {
                for entry in entries { bad[entry.id] = "\(entry.kind.name) \(entry.id.short) is in the pack \(key), which is missing" }
                continue
            }
            packSizes[pack] = item.size
            for entry in entries where entry.offset + entry.length > item.size {
                bad[entry.id] = "\(entry.kind.name) \(entry.id.short) lies past the end of the pack \(key)"
            }
        }

        if readData != nil || slice != nil {
            var packs = Array(byPack.keys).filter { packSizes[$0] != nil }.sorted()
            if let slice {
                packs = packs.filter(slice.contains)
            } else if let readData, readData < 1 {
                packs.shuffle()
                packs = Array(packs.prefix(max(1, Int((Double(packs.count) * readData).rounded(.up)))))
            }
            // Packs are read a few at a time (`packsInFlight`), each checked on its own task
            // while the next ones are read; results are taken in order, so the report is too.
            let checks = WorkWindow<PackCheck>(width: Self.packsInFlight(repository.storage.capabilities))
            let repository = self.repository, known = bad
            let progress = makeProgress?(packs.count, packs.reduce(0) { $0 + UInt64(packSizes[$1] ?? 0) })
            func take(_ check: PackCheck?) {
                guard let check else { return }
                progress?.read(UInt64(check.size))
                progress?.finish(.root)
                report.packsRead += 1
                report.bytesRead += check.size
                report.damages += check.damages
                for (id, message) in check.bad { bad[id] = message }
            }
            do {
                for pack in packs {
                    let entries = byPack[pack] ?? []
                    take(try await checks.add { try await Self.check(pack, entries: entries, in: repository, skipping: known) })
                }
                while !checks.isEmpty { take(try await checks.next()) }
            } catch {
                await checks.drain()
                throw error
            }
        }

        // Walk every snapshot: every tree must load, every object must be indexed and intact.
        var visited: Set<ObjectID> = []
        var seen = Seen()
        for record in snapshotsOK {
            guard let root = record.snapshot.treeID else { continue }
            try await walk(root, visited: &visited, seen: &seen, bad: &bad, report: &report)
        }
        report.dataObjects = seen.data.count
        report.signatures = seen.signatures.count

        if !bad.isEmpty {
            var affected: [ObjectID: [(ObjectID, FilePath)]] = [:]
            for record in snapshotsOK {
                guard let root = record.snapshot.treeID else { continue }
                await collect(root, at: .root, snapshot: record.id, bad: bad, into: &affected)
            }
            for (id, message) in bad.sorted(by: { $0.key < $1.key }) {
                report.damages.append(Damage(object: id, message: message, affected: affected[id] ?? []))
            }
        }
        return report
    }

    struct Seen {
        var data: Set<ObjectID> = []
        var signatures: Set<ObjectID> = []
    }

    /// What reading one pack found.
    struct PackCheck: Sendable {
        var size: Int
        var damages: [Damage] = []
        var bad: [(ObjectID, String)] = []
    }

    /// Packs read at once by `verify --read-data`: the storage's concurrent requests, at most
    /// four (packs are about 8 MiB, each held whole while its objects are opened).
    static func packsInFlight(_ capabilities: StorageCapabilities) -> Int {
        max(1, min(capabilities.concurrentRequests, 4))
    }

    /// Reads a pack whole and checks it: its header must list what the index lists for it (a
    /// damaged header is hidden while the index is whole, and found by the next rebuild), and
    /// every object must open (its seal, and for content its hash).
    static func check(_ pack: ObjectID, entries: [PackEntry], in repository: Repository, skipping known: [ObjectID: String]) async throws -> PackCheck {
        let key = PackFormat.key(for: pack)
        let whole: [UInt8]
        do {
            whole = try await repository.storage.get(key)
        } catch let error where !(error is CancellationError) {
            // A pack that cannot be read (a bad sector, no permission) is damage like any
            // other: its objects are listed, and the verify goes on to the next pack.
            var check = PackCheck(size: 0)
            check.damages.append(Damage(object: pack, message: "the pack \(key) cannot be read: \(Repository.reason(error))", affected: []))
            for entry in entries where known[entry.id] == nil {
                check.bad.append((entry.id, "\(entry.kind.name) \(entry.id.short) is in the pack \(key), which cannot be read"))
            }
            return check
        }
        return whole.withUnsafeBytes { bytes in
            var check = PackCheck(size: bytes.count)
            do {
                let header = try PackFormat.entries(ofPack: bytes, key: key, codec: repository.codec)
                if !Set(entries).isSubset(of: Set(header)) {
                    check.damages.append(Damage(object: pack, message: "the header of the pack \(key) does not list what the index lists for it", affected: []))
                }
            } catch {
                check.damages.append(Damage(object: pack, message: "the header of the pack \(key) is damaged (\(Repository.reason(error))); its objects are found through the index only", affected: []))
            }
            for entry in entries where known[entry.id] == nil && entry.offset + entry.length <= bytes.count {
                do {
                    let box = UnsafeRawBufferPointer(rebasing: bytes[entry.offset..<entry.offset + entry.length])
                    _ = try repository.open(entry.kind, id: entry.id, box: box, where: key)
                } catch {
                    check.bad.append((entry.id, entry.kind == .signature
                        ? signatureDamage(entry.id, "in \(key) is damaged") : "\(entry.kind.name) \(entry.id.short) in \(key) is damaged"))
                }
            }
            return check
        }
    }

    /// A damaged signature loses no data: the next backup of the files that need it uploads
    /// them in full.
    static func signatureDamage(_ id: ObjectID, _ what: String) -> String {
        "signature \(id.short) \(what): every version restores, but the next backup of the files below uploads them in full"
    }

    private func walk(_ tree: ObjectID, visited: inout Set<ObjectID>, seen: inout Seen, bad: inout [ObjectID: String], report: inout Report) async throws {
        guard visited.insert(tree).inserted, bad[tree] == nil else { return }
        let loaded: Tree
        do {
            loaded = try await repository.tree(tree)
        } catch {
            bad[tree] = "tree \(tree.short) cannot be read: \(error)"
            return
        }
        report.trees += 1
        for entry in loaded.entries {
            for extent in entry.content where seen.data.insert(extent.object).inserted {
                if !(await repository.contains(extent.object)) {
                    bad[extent.object] = "data \(extent.object.short) is not in the repository"
                }
            }
            for id in (entry.delta?.signatures ?? []) where seen.signatures.insert(id).inserted {
                if !(await repository.contains(id)) { bad[id] = Self.signatureDamage(id, "is not in the repository") }
            }
            if let subtree = entry.subtree {
                if !(await repository.contains(subtree)) {
                    bad[subtree] = "tree \(subtree.short) is not in the repository"
                } else {
                    try await walk(subtree, visited: &visited, seen: &seen, bad: &bad, report: &report)
                }
            }
        }
    }

    private func collect(_ tree: ObjectID, at path: FilePath, snapshot: ObjectID, bad: [ObjectID: String], into affected: inout [ObjectID: [(ObjectID, FilePath)]]) async {
        if bad[tree] != nil {
            affected[tree, default: []].append((snapshot, path))
            return
        }
        guard let loaded = try? await repository.tree(tree) else { return }
        for entry in loaded.entries {
            let child = path.appending(entry.name)
            for object in entry.content.map(\.object) + (entry.delta?.signatures ?? []) where bad[object] != nil {
                if affected[object]?.last.map({ $0.0 == snapshot && $0.1 == child }) != true {
                    affected[object, default: []].append((snapshot, child))
                }
            }
            if let subtree = entry.subtree { await collect(subtree, at: child, snapshot: snapshot, bad: bad, into: &affected) }
        }
    }
}
