import Foundation

/// `cairn repair`: rebuilds the index from the packs' headers and sets aside what cannot be
/// read. A dry run unless `apply`; damaged files are set aside (moved under `damaged/` in the
/// repository, never deleted) only with `removeDamaged`.
///
/// The index is redundant with the packs: every pack ends with a sealed header listing its
/// objects. The rebuilt index lists every object of every pack whose header reads, and the
/// objects of packs with a damaged header that a readable index file still lists. It is
/// written before the old index files are deleted, so an interruption leaves at worst two
/// index files naming the same packs, which readers merge.
public struct Repairer {
    public enum Kind: String, Sendable {
        case index, pack, snapshot, key, temporary
    }

    public struct Finding: Sendable, Equatable {
        public var kind: Kind
        /// The file's key in the repository.
        public var key: String
        public var problem: String
        /// What repair does about it (or, in a dry run, would do).
        public var action: String
    }

    public struct Report: Sendable {
        public var findings: [Finding] = []
        /// Packs and objects the rebuilt index lists.
        public var packs = 0
        public var objects = 0
        /// Whether the index is (or would be) rewritten.
        public var rewritesIndex = false
        public var temporariesRemoved = 0
        public var applied = false

        /// For people, one line each.
        public func lines() -> [String] {
            let would = applied ? "" : "would "
            var lines = findings.map { "\($0.kind.rawValue) \($0.key): \($0.problem); \($0.action)" }
            if rewritesIndex {
                lines.append("\(applied ? "rewrote" : "would rewrite") the index from \(packs) pack\(packs == 1 ? "" : "s") (\(objects) objects)")
            }
            if applied, temporariesRemoved > 0 { lines.append("removed \(temporariesRemoved) temporary file\(temporariesRemoved == 1 ? "" : "s") of killed runs") }
            if findings.isEmpty && !rewritesIndex { lines.append("nothing to repair: the index, packs, snapshots and key files all read") }
            if !applied && (rewritesIndex || !findings.isEmpty) {
                lines.append("this was a dry run: \(would)change nothing until run with --apply (and --remove-damaged to set damaged files aside)")
            }
            return lines
        }
    }

    public let repository: Repository

    public init(repository: Repository) {
        self.repository = repository
    }

    /// Where a damaged file is set aside.
    static func asideKey(_ key: String) -> String { "damaged/" + key }

    public func run(apply: Bool, removeDamaged: Bool) async throws -> Report {
        var report = Report()
        report.applied = apply
        let storage = repository.storage
        let codec = await repository.codec
        func setAside(_ key: String) async throws {
            try await repository.confirmLeases()
            try await storage.put(Self.asideKey(key), try await storage.get(key))
            try await storage.delete(key)
        }
        func aside(_ key: String) -> String {
            removeDamaged ? "\(apply ? "set" : "would be set") aside as \(Self.asideKey(key))" : "kept (--remove-damaged sets it aside)"
        }

        // Index files: those that read give the packs they list, those that do not are replaced.
        var indexFiles: [String] = []
        var indexed: [ObjectID: [PackEntry]] = [:]
        var damagedIndex = false
        for item in try await storage.listAll(prefix: "index/") {
            guard let id = ObjectID(hex: String(item.key.dropFirst("index/".count))) else { continue }
            indexFiles.append(item.key)
            do {
                let plaintext = try codec.open(.index, id: id, box: try await storage.get(item.key), where: item.key)
                for pack in try RepositoryIndex.decode(plaintext, what: item.key) { indexed[pack.id, default: []] += pack.entries }
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                damagedIndex = true
                report.findings.append(Finding(kind: .index, key: item.key, problem: "damaged (\(Repository.reason(error)))", action: "replaced by the rebuilt index"))
            }
        }

        // Packs: each header read and compared with what the index files say.
        var rebuilt: [(id: ObjectID, entries: [PackEntry])] = []
        var present: Set<ObjectID> = []
        var differs = false
        for item in try await storage.listAll(prefix: "data/") {
            guard let id = ObjectID(hex: String(item.key.split(separator: "/").last ?? "")) else { continue }
            present.insert(id)
            do {
                let entries = try await PackHeader.read(from: storage, key: item.key, size: item.size, codec: codec)
                if Set(entries) != Set(indexed[id] ?? []) { differs = true }
                rebuilt.append((id, entries))
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                if let listed = indexed[id], !listed.isEmpty {
                    rebuilt.append((id, listed))
                    report.findings.append(
                        Finding(
                            kind: .pack, key: item.key, problem: "its header is damaged (\(Repository.reason(error)))",
                            action: "its objects are still found through the index, which keeps listing them ('cairn verify --read-data' checks them)"))
                } else {
                    report.findings.append(
                        Finding(
                            kind: .pack, key: item.key, problem: "its header is damaged (\(Repository.reason(error))) and no index lists it: its objects cannot be used",
                            action: aside(item.key)))
                    if apply && removeDamaged { try await setAside(item.key) }
                }
            }
        }
        for (pack, _) in indexed where !present.contains(pack) {
            differs = true
            report.findings.append(
                Finding(
                    kind: .pack, key: PackFormat.key(for: pack), problem: "an index file lists it, but it is missing",
                    action: "left out of the rebuilt index ('cairn verify' names the files that needed it)"))
        }
        report.rewritesIndex = damagedIndex || differs
        report.packs = rebuilt.count
        report.objects = Set(rebuilt.flatMap { $0.entries.map(\.id) }).count
        if apply && report.rewritesIndex {
            // Written first, then the old files go: never a moment without an index.
            var written: Set<String> = []
            for batch in stride(from: 0, to: rebuilt.count, by: 4096).map({ Array(rebuilt[$0..<min($0 + 4096, rebuilt.count)]) }) {
                let id = try ObjectID.random()
                let box = try codec.seal(.index, id: id, plaintext: RepositoryIndex.encode(batch), compressor: Compressor(.default))
                try await storage.put("index/\(id.hex)", box)
                written.insert("index/\(id.hex)")
            }
            FaultInjection.reach("repair-index-written")
            try await repository.confirmLeases()
            for key in indexFiles where !written.contains(key) {
                do { try await storage.delete(key) } catch StorageError.notFound {}
            }
        }

        // Snapshots and key files that cannot be read.
        _ = try await repository.snapshots()
        for (id, reason) in await repository.unreadableSnapshots {
            let key = "snapshots/\(id.hex)"
            report.findings.append(Finding(kind: .snapshot, key: key, problem: "cannot be read (\(reason))", action: aside(key)))
            if apply && removeDamaged { try await setAside(key) }
        }
        for key in try await repository.keys() {
            guard let damage = key.damage else { continue }
            report.findings.append(Finding(kind: .key, key: "keys/\(key.id)", problem: damage, action: aside("keys/\(key.id)")))
            if apply && removeDamaged { try await setAside("keys/\(key.id)") }
        }

        // Temporary files of killed runs (the caller holds the exclusive lock: no run is live).
        if apply {
            try await repository.confirmLeases()
            for prefix in ["data/", "index/", "snapshots/"] { report.temporariesRemoved += try await storage.removeAbandonedUploads(prefix: prefix) }
        }
        return report
    }
}
