/// Visits every entry of a snapshot's tree, depth first, in name order.
public enum SnapshotWalk {
    public static func visit(_ repository: Repository, tree: ObjectID, at path: FilePath, _ body: (FilePath, TreeEntry) throws -> Void) async throws {
        for entry in try await repository.tree(tree).entries {
            let child = path.appending(entry.name)
            try body(child, entry)
            if entry.kind == .directory, let subtree = entry.subtree {
                try await visit(repository, tree: subtree, at: child, body)
            }
        }
    }
}
