import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// A repository crafted to make a restore write outside its target, or write content other
/// than what was recorded, must fail at that.
@Suite("A restore never writes outside its target nor unverified content")
struct RestoreSafetyTests {
    func file(_ name: String, _ content: [UInt8], in repository: Repository) async throws -> TreeEntry {
        var entry = TreeEntry(name: Array(name.utf8), kind: .file)
        let stored = try await repository.store(.blob, content)
        entry.content = [Extent(object: stored.id, offset: 0, length: content.count)]
        entry.size = UInt64(content.count)
        entry.mode = 0o644
        return entry
    }

    func directory(_ name: String, _ entries: [TreeEntry], in repository: Repository) async throws -> TreeEntry {
        var entry = TreeEntry(name: Array(name.utf8), kind: .directory)
        entry.mode = 0o755
        // Keep the crafted order: Tree sorts, so duplicates stay next to each other.
        entry.subtree = try await repository.store(.tree, Tree(entries: entries).encoded(contentHashPrefix: repository.contentHashPrefix)).id
        return entry
    }

    @Test func hostileNamesLinksAndHardLinksStayInside() async throws {
        let workspace = try TemporaryDirectory()
        let outside = workspace.subpath("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: nil, passphrase: nil)

        var escapeLink = TreeEntry(name: Array("escape".utf8), kind: .symlink)
        escapeLink.symlinkTarget = Array(outside.utf8)
        let throughLink = try await directory("escape", [try await file("pwned", Array("x".utf8), in: repository)], in: repository)
        let dotDot = try await file("..", Array("x".utf8), in: repository)
        let slash = try await file("a/../../pwned", Array("x".utf8), in: repository)
        let absolute = try await file("/etc/pwned", Array("x".utf8), in: repository)
        var hardLink = try await file("hard", Array("y".utf8), in: repository)
        hardLink.links = 2
        hardLink.device = 1
        hardLink.inode = 99
        let good = try await file("good.txt", Array("fine".utf8), in: repository)
        var rootEntries = [escapeLink, throughLink, dotDot, slash, absolute, hardLink, good]
        rootEntries.append(try await directory("sub", [hardLink], in: repository))
        let root = try await repository.store(.tree, Tree(entries: rootEntries).encoded(contentHashPrefix: repository.contentHashPrefix)).id

        let target = workspace.subpath("target")
        var restorer = Restorer(repository: repository, target: FilePath(target), paths: [], overwrite: .always, permissions: false, dryRun: false)
        try await restorer.restore(root: root)

        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "nothing was written through the link")
        #expect(!FileManager.default.fileExists(atPath: workspace.subpath("pwned")))
        #expect(!FileManager.default.fileExists(atPath: "/etc/pwned"))
        #expect(try String(contentsOfFile: target + "/good.txt", encoding: .utf8) == "fine")
        #expect(try String(contentsOfFile: target + "/sub/hard", encoding: .utf8) == "y")
        let names = try FileManager.default.contentsOfDirectory(atPath: target).sorted()
        #expect(names == ["escape", "good.txt", "hard", "sub"])
        #expect(restorer.problems.count == 3 && restorer.problems.allSatisfy { $0.message.contains("unsafe name") }, "\(restorer.problems)")
        #expect(restorer.conflicts.map(\.path) == [FilePath("/escape")], "the second 'escape' is refused")
    }

    /// An object sealed under the right key but holding other bytes than its id says (what a
    /// faulty writer could leave) is never restored as a file: a plain file's objects are
    /// checked against their ids, an in-file delta's whole content against its recorded hash.
    @Test func contentThatDoesNotMatchItsHashIsNotRestored() async throws {
        let workspace = try TemporaryDirectory()
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: .aes256GCM, passphrase: Array("key".utf8), scrypt: testScrypt)
        let right = Array(String(repeating: "the bytes recorded ", count: 20_000).utf8)
        var wrong = right
        wrong[wrong.count / 2] ^= 1
        let id = repository.contentID(of: right)
        let box = try repository.seal(.blob, id: id, plaintext: wrong, compressor: Compressor(.default))
        _ = try await repository.commit(.blob, id: id, box: box)
        let hasher = ContentHasher(keys: repository.keys)
        hasher.update(right)
        let wholeHash = hasher.finish()

        var plain = TreeEntry(name: Array("plain".utf8), kind: .file)
        plain.content = [Extent(object: id, offset: 0, length: right.count)]
        plain.size = UInt64(right.count)
        plain.mode = 0o644
        plain.contentHash = wholeHash
        var delta = plain
        delta.name = Array("delta".utf8)
        // A delta version's extents: two pieces of the object, as copies from a base version.
        delta.content = [Extent(object: id, offset: 0, length: 1000), Extent(object: id, offset: 1000, length: right.count - 1000)]
        delta.delta = DeltaInfo(isFull: false, deltas: 1, signature: nil, fullSignature: id, stored: Timestamp(seconds: 2, nanoseconds: 0), fullStored: Timestamp(seconds: 1, nanoseconds: 0), newBytes: 0)
        let root = try await repository.store(.tree, Tree(entries: [plain, delta]).encoded(contentHashPrefix: repository.contentHashPrefix)).id

        let target = workspace.subpath("target")
        var restorer = Restorer(repository: repository, target: FilePath(target), paths: [], overwrite: .always, permissions: false, dryRun: false)
        try await restorer.restore(root: root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty, "neither file, nor a temporary one, is left")
        let messages = restorer.problems.sorted { $0.path.description < $1.path.description }.map(\.message)
        #expect(messages.count == 2)
        #expect(messages.first?.contains("does not match its recorded hash") == true, "\(messages)")
        #expect(messages.last?.contains("does not match its hash") == true, "\(messages)")
    }
}
