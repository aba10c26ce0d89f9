import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Chunking: a backup cuts files where the chunker cuts the whole content")
struct ChunkingTests {
    /// The chunk lengths of `data` cut in one piece.
    func referenceCuts(_ data: [UInt8], chunker: Chunker) -> [Int] {
        var lengths: [Int] = []
        data.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let length = chunker.cut(buffer, from: start)
                lengths.append(length)
                start += length
            }
        }
        return lengths
    }

    @Test func backupCutsMatchCutsOfTheWholeFile() async throws {
        let directory = try TemporaryDirectory()
        let context = try localSetContext(directory)
        var generator = SeededGenerator(state: 11)
        // Random data (cuts near the normal size), long runs of one byte (no cut before the
        // maximum) and text-like data, in lengths that do not line up with any buffer.
        var content: [UInt8] = []
        content += generator.bytes(5_000_000)
        content += [UInt8](repeating: 0, count: 19_000_001)
        content += generator.bytes(3_333_333)
        let letters: [UInt8] = (0..<9_000_000).map { (index: Int) -> UInt8 in UInt8(truncatingIfNeeded: 0x61 + (index * 7 + index / 1000) % 26) }
        content += letters
        content += generator.bytes(777)
        try Data(content).write(to: URL(fileURLWithPath: directory.subpath("source/big.bin")))
        try Data(generator.bytes(9_000_000)).write(to: URL(fileURLWithPath: directory.subpath("source/medium.bin")))

        var job = try await BackupJob.plan(context, now: Date())
        let result = try await job.execute()
        let repository = try await Repository.open(storage: LocalFolderStorage(root: context.repositoryPath), passphrase: nil)
        let chunker = Chunker(key: repository.chunkerKey)
        var files: [String: TreeEntry] = [:]
        try await SnapshotWalk.visit(repository, tree: try #require(result.snapshot.treeID), at: .root) { path, entry in
            if entry.kind == .file { files[String(decoding: path.name, as: UTF8.self)] = entry }
        }
        let big = try #require(files["big.bin"])
        let expected = referenceCuts(content, chunker: chunker)
        #expect(big.content.map(\.length) == expected)
        #expect(expected.contains(Chunker.maximumSize), "the run of zeros makes chunks of the maximum size")
        // The content hash from bytes fed in pieces of any size (as a delta backup and a
        // restore feed them) is the one from the backup's chunk ids.
        #expect(big.contentHash == ContentHasher.hash(ofChunks: big.content.map(\.object), keys: repository.keys))
        for seed in 1...3 as ClosedRange<UInt64> {
            var pieces = SeededGenerator(state: seed)
            let hasher = ContentHasher(keys: repository.keys)
            var done = 0
            while done < content.count {
                let size = [1 + pieces.below(5000), 1 + pieces.below(300_000), 1 + pieces.below(3_000_000)][pieces.below(3)]
                let end = min(content.count, done + size)
                hasher.update(content[done..<end])
                done = end
            }
            #expect(hasher.finish() == big.contentHash, "pieces with seed \(seed)")
        }
        let medium = try #require(files["medium.bin"])
        let mediumBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory.subpath("source/medium.bin"))))
        #expect(medium.content.map(\.length) == referenceCuts(mediumBytes, chunker: chunker))
    }
}
