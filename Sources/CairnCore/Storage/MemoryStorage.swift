/// A backend in memory: for tests, and for dry runs that must not touch the destination.
public actor MemoryStorage: StorageBackend {
    private var files: [String: [UInt8]] = [:]

    public nonisolated let location = "memory"
    public nonisolated var capabilities: StorageCapabilities {
        StorageCapabilities(concurrentRequests: 64, atomicPutIfAbsent: true, rangedReadOverhead: 0, writesRunToCompletion: true)
    }

    public init() {}

    public func get(_ key: String) throws -> [UInt8] {
        guard let data = files[key] else { throw StorageError.notFound(key) }
        return data
    }

    public func read(_ key: String, range: Range<Int>) throws -> StorageBuffer {
        let data = try get(key)
        guard range.lowerBound >= 0, range.upperBound <= data.count else { throw StorageError.outOfRange(key) }
        return StorageBuffer(Array(data[range]))
    }

    public func put(_ key: String, _ data: [UInt8]) throws {
        try StorageKey.check(key)
        files[key] = data
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) throws -> Bool {
        try StorageKey.check(key)
        guard files[key] == nil else { return false }
        files[key] = data
        return true
    }

    public func stat(_ key: String) -> StorageItem? {
        files[key].map { StorageItem(key: key, size: $0.count) }
    }

    public func list(prefix: String, after: String?, limit: Int) -> [StorageItem] {
        files.keys.filter { key in key.hasPrefix(prefix) && (after.map { key > $0 } ?? true) }
            .sorted().prefix(limit).map { StorageItem(key: $0, size: files[$0]!.count) }
    }

    public func delete(_ key: String) {
        files[key] = nil
    }

    /// Changes one byte of a stored file, for tests of damage detection.
    public func corrupt(_ key: String, at offset: Int) {
        files[key]?[offset] ^= 0x01
    }
}

/// Keys are relative paths of plain names: no empty, `.` or `..` components, no leading `/`.
enum StorageKey {
    /// Checked on every read (a backup reads a tree for each folder): over the key's bytes,
    /// without splitting it into strings (3% of a nothing-changed backup's CPU before).
    static func check(_ key: String) throws {
        guard isValid(key) else { throw StorageError.invalidKey(key) }
    }

    static func isValid(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { bytes in
            guard !bytes.isEmpty else { return false }
            var start = 0
            for index in 0...bytes.count {
                guard index < bytes.count, bytes[index] != UInt8(ascii: "/") else {
                    let count = index - start
                    let dot = UInt8(ascii: ".")
                    if count == 0 || (count <= 2 && bytes[start] == dot && (count == 1 || bytes[start + 1] == dot)) { return false }
                    start = index + 1
                    continue
                }
                if bytes[index] == 0 { return false }
            }
            return true
        }
    }
}
