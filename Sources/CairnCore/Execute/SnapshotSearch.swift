import Foundation

/// The entries of snapshots whose name (a pattern without a slash) or whole path (a pattern
/// with one) matches a glob, for `cairn find`. A folder met again at the same place with the
/// same tree (unchanged between snapshots) is searched once.
public struct SnapshotSearch {
    public let pattern: String
    public let ignoreCase: Bool
    let byName: Bool
    let glob: [UInt8]
    let flags: Int32
    /// The matches under each folder already searched, by its tree and its path.
    var searched: [ObjectID: [[UInt8]: [(FilePath, TreeEntry)]]] = [:]

    public init(pattern: String, ignoreCase: Bool) {
        self.pattern = pattern
        self.ignoreCase = ignoreCase
        byName = !pattern.contains("/")
        // `*` stays within a folder (FNM_PATHNAME) unless the pattern says `**`: then any `*`
        // crosses folders.
        let crosses = pattern.contains("**")
        glob = Array((crosses ? pattern.replacingOccurrences(of: "**", with: "*") : pattern).utf8)
        // FNM_CASEFOLD, a GNU extension the C module does not export.
        let caseFold: Int32 = 1 << 4
        flags = (ignoreCase ? caseFold : 0) | (!byName && !crosses ? FNM_PATHNAME : 0)
    }

    func matches(_ path: FilePath, name: [UInt8]) -> Bool {
        let subject = byName ? name : path.bytes
        return (glob + [0]).withUnsafeBufferPointer { p in
            (subject + [0]).withUnsafeBufferPointer { s in
                fnmatch(UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self), UnsafeRawPointer(s.baseAddress!).assumingMemoryBound(to: CChar.self), flags) == 0
            }
        }
    }

    /// The matching entries of the tree `root` (a snapshot's tree of `/`), in tree order.
    public mutating func matches(in repository: Repository, root: ObjectID) async throws -> [(FilePath, TreeEntry)] {
        try await search(repository, tree: root, at: .root)
    }

    private mutating func search(_ repository: Repository, tree: ObjectID, at path: FilePath) async throws -> [(FilePath, TreeEntry)] {
        if let known = searched[tree]?[path.bytes] { return known }
        var found: [(FilePath, TreeEntry)] = []
        for entry in try await repository.tree(tree).entries {
            let child = path.appending(entry.name)
            if matches(child, name: entry.name) { found.append((child, entry)) }
            if entry.kind == .directory, let subtree = entry.subtree {
                found += try await search(repository, tree: subtree, at: child)
            }
        }
        searched[tree, default: [:]][path.bytes] = found
        return found
    }
}
