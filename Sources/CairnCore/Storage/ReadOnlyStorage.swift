/// A backend that never changes its base: for dry runs and for reading a repository that must
/// stay as it is (a copy, removable media).
///
/// In `.refuse` mode every write fails with `readOnly`. In `.dryRun` mode writes go to an
/// overlay in memory: later reads, listings and deletes see them as if they had happened, and
/// `changes` says what a real run would have written and removed.
public struct ReadOnlyStorage: StorageBackend {
    public enum Mode: Sendable { case refuse, dryRun }

    public let base: any StorageBackend
    public let mode: Mode
    private let overlay = Overlay()

    public init(_ base: any StorageBackend, mode: Mode) {
        self.base = base
        self.mode = mode
    }

    public var location: String { base.location }
    public var capabilities: StorageCapabilities { base.capabilities }

    /// What a dry run would have written (with sizes) and removed, in key order.
    public var changes: (written: [StorageItem], removed: [String]) {
        get async { await overlay.changes }
    }

    actor Overlay {
        var written: [String: [UInt8]] = [:]
        var removed: Set<String> = []

        func put(_ key: String, _ data: [UInt8]) {
            written[key] = data
            removed.remove(key)
        }

        func delete(_ key: String) {
            written[key] = nil
            removed.insert(key)
        }

        /// The overlay's answer for `key`: its bytes, `.some(nil)` when removed, nil when the base decides.
        /// Stores `data` unless `key` holds something, here or (`inBase`) in the base: one step,
        /// so two writers cannot both win.
        func putIfAbsent(_ key: String, _ data: [UInt8], inBase: Bool) -> Bool {
            switch lookup(key) {
            case .some(.some): return false
            case .some(.none): break
            case .none: if inBase { return false }
            }
            put(key, data)
            return true
        }

        func lookup(_ key: String) -> [UInt8]?? {
            if let data = written[key] { return .some(data) }
            return removed.contains(key) ? .some(nil) : nil
        }

        var removedCount: Int { removed.count }

        var changes: (written: [StorageItem], removed: [String]) {
            (written.map { StorageItem(key: $0.key, size: $0.value.count) }.sorted { $0.key < $1.key }, removed.sorted())
        }

        func merge(_ items: [StorageItem], prefix: String, after: String?, limit: Int) -> [StorageItem] {
            var byKey = Dictionary(items.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            for key in removed { byKey[key] = nil }
            for (key, data) in written where key.hasPrefix(prefix) && after.map({ key > $0 }) ?? true {
                byKey[key] = StorageItem(key: key, size: data.count)
            }
            return Array(byKey.values.sorted { $0.key < $1.key }.prefix(limit))
        }
    }

    private func refuse() throws {
        if mode == .refuse { throw StorageError.readOnly("\(base.location) (opened read-only)") }
    }

    public func prefetch(_ key: String, ranges: [Range<Int>]) { base.prefetch(key, ranges: ranges) }

    public func get(_ key: String) async throws -> [UInt8] {
        switch await overlay.lookup(key) {
        case .some(.some(let data)): return data
        case .some(.none): throw StorageError.notFound(key)
        case .none: return try await base.get(key)
        }
    }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        switch await overlay.lookup(key) {
        case .some(.some(let data)):
            guard range.lowerBound >= 0, range.upperBound <= data.count else { throw StorageError.outOfRange(key) }
            return StorageBuffer(Array(data[range]))
        case .some(.none): throw StorageError.notFound(key)
        case .none: return try await base.read(key, range: range)
        }
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try refuse()
        try StorageKey.check(key)
        await overlay.put(key, data)
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try refuse()
        try StorageKey.check(key)
        let inBase = try await base.stat(key) != nil
        return await overlay.putIfAbsent(key, data, inBase: inBase)
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        switch await overlay.lookup(key) {
        case .some(.some(let data)): return StorageItem(key: key, size: data.count)
        case .some(.none): return nil
        case .none: return try await base.stat(key)
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        // Removed keys may hide items of the base's page: ask for more, then cut.
        let extra = await overlay.removedCount
        let items = try await base.list(prefix: prefix, after: after, limit: limit + extra)
        return await overlay.merge(items, prefix: prefix, after: after, limit: limit)
    }

    public func delete(_ key: String) async throws {
        try refuse()
        try StorageKey.check(key)
        await overlay.delete(key)
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        try refuse()
        try StorageKey.check(key)
        return BufferedUpload(storage: self, key: key)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int {
        try refuse()
        return 0
    }
}
