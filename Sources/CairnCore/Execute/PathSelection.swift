#if canImport(Glibc)
    import Glibc
#endif

/// The entries of a snapshot that the PATH arguments of `restore` and `ls` choose: an original
/// absolute path chooses the entry there and everything under it; a glob (`*`, `?`, `[...]`,
/// matched against whole paths, `*` also across `/`) chooses every entry it matches and
/// everything under them. No PATH chooses everything.
public struct PathSelection: Sendable {
    public var patterns: [FilePath]

    public init(_ patterns: [FilePath]) {
        self.patterns = patterns
    }

    /// PATH arguments that match no entry of a snapshot: a typo must not look like a restore
    /// (or a listing) of nothing.
    public struct NothingMatched: Error, CustomStringConvertible, Equatable {
        public var paths: [FilePath]
        /// How the snapshot is named to people: `snapshot 1a2b3c4d`, or `any snapshot of set 'x'`.
        public var snapshot: String
        /// What was therefore not done, such as `nothing was restored`.
        public var consequence: String?

        public var description: String {
            let list = paths.map { "'\($0)'" }.joined(separator: ", ")
            return "nothing in \(snapshot) matches \(list)\(consequence.map { "; \($0)" } ?? ""); name files by their original absolute paths, as 'cairn ls' shows them"
        }
    }

    public var choosesEverything: Bool { patterns.isEmpty }

    public static func isGlob(_ path: FilePath) -> Bool { path.bytes.contains { $0 == 0x2A || $0 == 0x3F || $0 == 0x5B } }

    /// Whether `path` is chosen (it or a folder above it is named, or a glob matches it), and
    /// whether something below it may be.
    public func selection(of path: FilePath) -> (selected: Bool, below: Bool) {
        if patterns.isEmpty { return (true, true) }
        var below = false
        for pattern in patterns {
            if Self.isGlob(pattern) {
                if Self.glob(pattern, matches: path) { return (true, true) }
                below = below || Self.glob(pattern, mayMatchBelow: path)
            } else if path.isInside(pattern) {
                return (true, true)
            } else if pattern.isInside(path) {
                below = true
            }
        }
        return (false, below)
    }

    static func glob(_ pattern: FilePath, matches path: FilePath) -> Bool {
        pattern.withCString { p in path.withCString { fnmatch(p, $0, 0) == 0 } }
    }

    static func glob(_ pattern: FilePath, mayMatchBelow path: FilePath) -> Bool {
        pattern.components.count > path.components.count || pattern.bytes.contains(0x2A)
    }

    /// The patterns that match no entry of the tree `root` (a snapshot's tree of `/`), in the
    /// order given. A path is looked up folder by folder; a glob walks only as deep as it can match.
    public func unmatched(in repository: Repository, root: ObjectID) async throws -> [FilePath] {
        var globs = patterns.filter(Self.isGlob)
        if !globs.isEmpty { try await walk(repository, tree: root, at: .root, globs: &globs) }
        var missing: [FilePath] = []
        for pattern in patterns {
            if Self.isGlob(pattern) {
                if globs.contains(pattern) { missing.append(pattern) }
            } else if try await !Self.exists(pattern, in: repository, root: root) {
                missing.append(pattern)
            }
        }
        return missing
    }

    /// Fails when a pattern matches nothing in any of the trees `roots` (snapshots' trees of
    /// `/`), naming those patterns and `snapshot` (how the snapshots are named to people).
    public func requireMatches(in repository: Repository, roots: [ObjectID], snapshot: String, consequence: String? = nil) async throws {
        guard !patterns.isEmpty else { return }
        var unmatched = Set(patterns)
        for root in roots where !unmatched.isEmpty {
            unmatched.formIntersection(try await self.unmatched(in: repository, root: root))
        }
        guard unmatched.isEmpty else { throw NothingMatched(paths: patterns.filter(unmatched.contains), snapshot: snapshot, consequence: consequence) }
    }

    /// Whether the snapshot holds an entry at `path` (`/` when it holds anything).
    static func exists(_ path: FilePath, in repository: Repository, root: ObjectID) async throws -> Bool {
        var tree = try await repository.tree(root)
        let names = path.components
        guard !names.isEmpty else { return !tree.entries.isEmpty }
        for (depth, name) in names.enumerated() {
            guard let entry = tree.entries.first(where: { $0.name == name }) else { return false }
            if depth == names.count - 1 { return true }
            guard entry.kind == .directory, let subtree = entry.subtree else { return false }
            tree = try await repository.tree(subtree)
        }
        return false
    }

    /// Removes from `globs` each one that matches an entry under `path`.
    private func walk(_ repository: Repository, tree: ObjectID, at path: FilePath, globs: inout [FilePath]) async throws {
        for entry in try await repository.tree(tree).entries {
            let child = path.appending(entry.name)
            globs.removeAll { Self.glob($0, matches: child) }
            if globs.isEmpty { return }
            if entry.kind == .directory, let subtree = entry.subtree, globs.contains(where: { Self.glob($0, mayMatchBelow: child) }) {
                try await walk(repository, tree: subtree, at: child, globs: &globs)
                if globs.isEmpty { return }
            }
        }
    }
}
