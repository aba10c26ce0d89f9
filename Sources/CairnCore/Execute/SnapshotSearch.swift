import Foundation

/// The entries of snapshots whose name (a pattern without a slash) or whole path (a pattern
/// with one) matches a glob, for `cairn find`. A folder without a match is remembered (by its
/// tree, and for a path pattern its place): met again in another snapshot, it is not read.
/// Only those are kept, a tree id each (and a path), not the matches: memory stays with the
/// number of distinct folders, however many snapshots share them.
public struct SnapshotSearch {
    public let pattern: String
    public let ignoreCase: Bool
    let byName: Bool
    let glob: [UInt8]
    let flags: Int32
    /// Folders searched that hold no match: by tree for a name pattern (a name matches
    /// wherever the folder is), by tree and path for a path pattern.
    var emptyTrees: Set<ObjectID> = []
    var emptyPlaces: Set<[UInt8]> = []

    public init(pattern: String, ignoreCase: Bool) {
        self.pattern = pattern
        self.ignoreCase = ignoreCase
        byName = !pattern.contains("/")
        // `*` stays within a folder (FNM_PATHNAME) unless the pattern says `**`: then any `*`
        // crosses folders.
        let crosses = pattern.contains("**")
        glob = FilePath(typed: crosses ? pattern.replacingOccurrences(of: "**", with: "*") : pattern).bytes
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
        let place = byName ? [] : tree.bytes + path.bytes
        if byName ? emptyTrees.contains(tree) : emptyPlaces.contains(place) { return [] }
        var found: [(FilePath, TreeEntry)] = []
        for entry in try await repository.tree(tree).entries {
            let child = path.appending(entry.name)
            if matches(child, name: entry.name) { found.append((child, entry)) }
            if entry.kind == .directory, let subtree = entry.subtree {
                found += try await search(repository, tree: subtree, at: child)
            }
        }
        if found.isEmpty {
            if byName { emptyTrees.insert(tree) } else { emptyPlaces.insert(place) }
        }
        return found
    }
}
