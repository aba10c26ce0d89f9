import Foundation
import Synchronization

/// Picks the backend for a destination from its URL scheme: a plain path or `file://` is a
/// local folder, `memory://NAME` a folder in this process's memory (for tests). A new backend
/// registers a factory for its scheme; a scheme without one is a clear error.
public struct StorageRegistry: Sendable {
    public typealias Factory = @Sendable (_ destination: StorageURL) throws -> any StorageBackend

    private var factories: [String: Factory]

    public init(_ factories: [String: Factory] = [:]) {
        self.factories = factories
    }

    /// What this cairn can store to.
    public static let standard = StorageRegistry([
        "file": { LocalFolderStorage(root: $0.path) },
        "memory": { MemoryStorage.named($0.host + $0.path) },
    ])

    public mutating func register(_ scheme: String, _ factory: @escaping Factory) {
        factories[scheme.lowercased()] = factory
    }

    public var schemes: [String] { factories.keys.sorted() }

    public func canOpen(scheme: String) -> Bool { factories[scheme.lowercased()] != nil }

    /// The backend for `destination` (a path, or `scheme://...`).
    public func open(_ destination: String) throws -> any StorageBackend {
        let url = try StorageURL(destination)
        guard let factory = factories[url.scheme] else {
            throw Failure.unknownScheme(url.scheme, destination: destination, known: schemes)
        }
        return try factory(url)
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownScheme(String, destination: String, known: [String])
        case malformed(String, reason: String)

        public var description: String {
            switch self {
            case .unknownScheme(let scheme, let destination, let known):
                return "\(destination): this cairn cannot store to \(scheme):// destinations (it knows \(known.map { "\($0)://" }.joined(separator: ", ")) and plain paths)"
            case .malformed(let destination, let reason):
                return "\(destination) is not a valid destination: \(reason)"
            }
        }
    }
}

/// A destination, split: `scheme://host/path`, or a plain absolute path (scheme `file`).
public struct StorageURL: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var path: String

    public init(_ text: String) throws {
        guard !text.hasPrefix("/"), let separator = text.range(of: "://") else {
            guard text.hasPrefix("/") else { throw StorageRegistry.Failure.malformed(text, reason: "a local folder is an absolute path") }
            (scheme, host, path) = ("file", "", text)
            return
        }
        scheme = text[..<separator.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) else {
            throw StorageRegistry.Failure.malformed(text, reason: "'\(scheme)' is not a URL scheme")
        }
        let rest = text[separator.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        host = String(rest[..<slash])
        path = String(rest[slash...])
        if scheme == "file" {
            guard host.isEmpty || host == "localhost" else {
                throw StorageRegistry.Failure.malformed(text, reason: "a file:// destination names a folder of this machine (file:///path)")
            }
            guard path.hasPrefix("/") else { throw StorageRegistry.Failure.malformed(text, reason: "a local folder is an absolute path") }
            path = path.removingPercentEncoding ?? path
        }
    }
}

extension MemoryStorage {
    private static let byName = Mutex<[String: MemoryStorage]>([:])

    /// The storage of this name in this process, made on first use: a destination that
    /// outlives the objects that open it, as a folder does.
    public static func named(_ name: String) -> MemoryStorage {
        byName.withLock { storages in
            if let storage = storages[name] { return storage }
            let storage = MemoryStorage()
            storages[name] = storage
            return storage
        }
    }
}
