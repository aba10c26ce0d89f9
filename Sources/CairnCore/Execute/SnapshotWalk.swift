/// Visits every entry of a snapshot's tree, depth first, in name order.
public enum SnapshotWalk {
    /// `below` says whether to go into a folder (by default, every one).
    public static func visit(
        _ repository: Repository, tree: ObjectID, at path: FilePath, below: (FilePath) -> Bool = { _ in true },
        _ body: (FilePath, TreeEntry) throws -> Void
    ) async throws {
        for entry in try await repository.tree(tree).entries {
            let child = path.appending(entry.name)
            try body(child, entry)
            if entry.kind == .directory, let subtree = entry.subtree, below(child) {
                try await visit(repository, tree: subtree, at: child, below: below, body)
            }
        }
    }
}
