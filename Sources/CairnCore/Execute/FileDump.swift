import Foundation

/// One file of a snapshot, found by its path and written out, for `cairn dump`.
public enum FileDump {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notFound(String, snapshot: String)
        case notAFile(String, kind: String)
        case linkLoop(String)

        public var description: String {
            switch self {
            case .notFound(let path, let snapshot): return "\(path) is not in \(snapshot); 'cairn find' says which snapshots hold a path"
            case .notAFile(let path, let kind): return "\(path) is a \(kind), not a file: 'cairn restore' brings it back, 'cairn ls' lists it"
            case .linkLoop(let path): return "\(path): more than 40 symbolic links to follow"
            }
        }
    }

    /// The file entry at `path` in the tree `root`, following symbolic links within the
    /// snapshot (relative ones from the link's folder).
    public static func entry(_ path: FilePath, in repository: Repository, root: ObjectID, snapshot: String) async throws -> TreeEntry {
        var components = path.components
        var resolved: [[UInt8]] = []
        var follows = 0
        var trees: [ObjectID] = [root]
        while !components.isEmpty {
            let name = components.removeFirst()
            if name == Array(".".utf8) { continue }
            if name == Array("..".utf8) {
                if !resolved.isEmpty {
                    resolved.removeLast()
                    trees.removeLast()
                }
                continue
            }
            guard let entry = try await repository.tree(trees.last!).entry(named: name) else {
                throw Failure.notFound(path.description, snapshot: snapshot)
            }
            if entry.kind == .symlink {
                follows += 1
                guard follows <= 40 else { throw Failure.linkLoop(path.description) }
                let target = FilePath(entry.symlinkTarget)
                if entry.symlinkTarget.first == UInt8(ascii: "/") {
                    resolved = []
                    trees = [root]
                }
                components = target.components + components
                continue
            }
            if components.isEmpty {
                guard entry.kind == .file else { throw Failure.notAFile(path.description, kind: BackupPlan.kindName(entry.kind)) }
                return entry
            }
            guard entry.kind == .directory, let subtree = entry.subtree else { throw Failure.notFound(path.description, snapshot: snapshot) }
            resolved.append(name)
            trees.append(subtree)
        }
        throw Failure.notAFile(path.description, kind: "directory")
    }

    /// Writes the file's content to `descriptor`, each object checked as it is read and the
    /// whole content's hash at the end. A reader that went away (a closed pipe) ends it quietly.
    public static func write(_ entry: TreeEntry, from repository: Repository, to descriptor: Int32, path: String) async throws {
        var written: UInt64 = 0
        for extent in entry.content {
            let object = try await repository.load(.blob, extent.object)
            guard extent.offset >= 0, extent.offset + extent.length <= object.count else {
                throw RepositoryError.damaged("an extent of \(path) reaches past the end of object \(extent.object.short)")
            }
            let piece = object[extent.offset..<extent.offset + extent.length]
            let closed = try piece.withUnsafeBytes { bytes -> Bool in
                var done = 0
                while done < bytes.count {
                    let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                    if count < 0 {
                        if errno == EINTR { continue }
                        if errno == EPIPE { return true }
                        throw RepositoryError.unsupported("standard output cannot be written: \(String(cString: strerror(errno)))")
                    }
                    done += count
                }
                return false
            }
            if closed { return }
            written += UInt64(extent.length)
        }
        guard written == entry.size else {
            throw RepositoryError.damaged("the content of \(path) has \(written) bytes, not the \(entry.size) its entry records")
        }
        if entry.content.allSatisfy({ $0.offset == 0 }), entry.delta == nil, let expected = entry.contentHash,
            ContentHasher.hash(ofChunks: entry.content.map(\.object), keys: repository.keys) != expected
        {
            throw RepositoryError.damaged("the content of \(path) does not match its recorded hash")
        }
    }
}
