import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Which PATH arguments of restore and ls match nothing in a snapshot's tree.
@Suite("PATH arguments that match nothing")
struct PathSelectionTests {
    /// `/home/me/a.txt`, `/home/me/docs/b.doc`, and `/home/me/link` (a symbolic link).
    static func tree(in repository: Repository) async throws -> ObjectID {
        func store(_ entries: [TreeEntry]) async throws -> ObjectID {
            try await repository.store(.tree, Tree(entries: entries).encoded(contentHashPrefix: repository.contentHashPrefix)).id
        }
        func folder(_ name: String, _ entries: [TreeEntry]) async throws -> TreeEntry {
            var entry = TreeEntry(name: Array(name.utf8), kind: .directory)
            entry.subtree = try await store(entries)
            return entry
        }
        var link = TreeEntry(name: Array("link".utf8), kind: .symlink)
        link.symlinkTarget = Array("docs".utf8)
        let docs = try await folder("docs", [TreeEntry(name: Array("b.doc".utf8), kind: .file)])
        let me = try await folder("me", [TreeEntry(name: Array("a.txt".utf8), kind: .file), docs, link])
        return try await store([try await folder("home", [me])])
    }

    @Test(arguments: [
        (["/home/me/a.txt", "/home/me/docs", "/home", "/", "/home/me/link"], [String]()),
        (["/home/me/a.tx", "/home/me/a.txt"], ["/home/me/a.tx"]),
        (["/home/me/a.txt/x", "/home/me/link/b.doc", "/home/you"], ["/home/me/a.txt/x", "/home/me/link/b.doc", "/home/you"]),
        (["/home/*.doc", "*b.doc", "/home/me/?.txt", "/home/me/[ab].txt"], []),
        (["/home/*.pdf", "/home/me/??.txt", "/home/me/a.txt"], ["/home/*.pdf", "/home/me/??.txt"]),
    ])
    func unmatchedPatterns(patterns: [String], expected: [String]) async throws {
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: nil, passphrase: nil)
        let root = try await Self.tree(in: repository)
        let selection = PathSelection(patterns.map { FilePath(PathExpansion.normalize($0)) })
        #expect(try await selection.unmatched(in: repository, root: root) == expected.map { FilePath(PathExpansion.normalize($0)) })
    }

    @Test func anEmptySnapshotMatchesNoPathButAllIsFine() async throws {
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: nil, passphrase: nil)
        let root = try await repository.store(.tree, Tree(entries: []).encoded(contentHashPrefix: repository.contentHashPrefix)).id
        await #expect(throws: PathSelection.NothingMatched(paths: [FilePath("/")], snapshot: "snapshot x")) {
            try await PathSelection([FilePath("/")]).requireMatches(in: repository, roots: [root], snapshot: "snapshot x")
        }
        try await PathSelection([]).requireMatches(in: repository, roots: [root], snapshot: "snapshot x")
    }
}
