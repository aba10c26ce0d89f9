import Foundation
import Testing

@testable import CairnCore

/// Trees written entry by entry and read entry by entry: the same bytes as a tree encoded whole,
/// entries put in order (and a name kept once) when they come out of order, and a stored tree
/// whose entries are out of order read as damage.
@Suite("Trees entry by entry")
struct TreeStreamTests {
    static func entries(_ names: [String]) -> [TreeEntry] {
        names.enumerated().map { index, name in
            var entry = TreeEntry(name: Array(name.utf8), kind: .file)
            entry.size = UInt64(index)
            entry.mode = 0o644
            return entry
        }
    }

    @Test func aTreeBuiltEntryByEntryIsTheTreeEncodedWhole() throws {
        let prefix = Array("prefix".utf8)
        let sorted = Self.entries(["a", "b", "b.txt", "b/", "é", "z"]).sorted { $0.name.lexicographicallyPrecedes($1.name) }
        var builder = Tree.Builder(contentHashPrefix: prefix)
        for entry in sorted { builder.append(entry) }
        #expect(try builder.finish() == Tree(entries: sorted).encoded(contentHashPrefix: prefix))

        // Out of order, and a name twice: put in order, the first kept.
        var shuffled = Tree.Builder(contentHashPrefix: prefix)
        for entry in [sorted[3], sorted[0], sorted[5], sorted[1], sorted[4], sorted[2]] { shuffled.append(entry) }
        var twice = sorted[0]
        twice.size = 99
        shuffled.append(twice)
        #expect(try shuffled.finish() == Tree(entries: sorted).encoded(contentHashPrefix: prefix))
    }

    @Test func aCursorReadsEveryEntryInOrderAndRefusesDisorder() throws {
        let prefix = Array("prefix".utf8)
        let tree = Tree(entries: Self.entries(["c", "a", "b"]))
        var cursor = try Tree.Cursor(tree.encoded(contentHashPrefix: prefix), what: "tree", contentHashPrefix: prefix)
        #expect(cursor.count == 3)
        #expect(try cursor.tree() == tree)

        // Entries written out of order (as no cairn writes them): damage, never a wrong merge.
        var writer = BinaryWriter()
        writer.varint(Tree.version)
        writer.varint(2)
        for entry in Self.entries(["b", "a"]) { Tree.encode(entry, into: &writer, contentHashPrefix: prefix) }
        var disordered = try Tree.Cursor(writer.bytes, what: "tree 1234", contentHashPrefix: prefix)
        #expect(try disordered.next()?.name == Array("b".utf8))
        #expect(throws: FormatError.self) { try disordered.next() }
        // Trailing bytes after the last entry are damage too.
        var trailing = try Tree.Cursor(tree.encoded(contentHashPrefix: prefix) + [0], what: "tree", contentHashPrefix: prefix)
        #expect(throws: FormatError.self) { while try trailing.next() != nil {} }
    }
}
