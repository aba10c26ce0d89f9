import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Every decoder of repository data, fed valid encodings mutated at random (flipped bits,
/// truncations, inserted bytes, numbers replaced by extremes) and the crafted cases that once
/// crashed: each must return a value or throw, never trap. A trap here ends the whole test run.
@Suite("Decoders on damaged and crafted bytes")
struct DecoderFuzzTests {
    static let prefix = Array(repeating: UInt8(7), count: 32)

    static func sampleTree() throws -> [UInt8] {
        var file = TreeEntry(name: Array("file".utf8), kind: .file)
        file.size = 13
        file.content = [Extent(object: try .random(), offset: 0, length: 9), Extent(object: try .random(), offset: 2, length: 4)]
        file.contentHash = try .random()
        file.xattrs = [TreeEntry.Xattr(name: Array("user.a".utf8), value: [1, 2, 3])]
        file.delta = DeltaInfo(
            isFull: false, deltas: 2, signature: try .random(), fullSignature: try .random(), stored: Timestamp(seconds: 5, nanoseconds: 1),
            fullStored: Timestamp(seconds: 1, nanoseconds: 0), newBytes: 4)
        file.carried = .readFailed
        var folder = TreeEntry(name: Array("folder".utf8), kind: .directory)
        folder.subtree = try .random()
        var link = TreeEntry(name: Array("link".utf8), kind: .symlink)
        link.symlinkTarget = Array("../x".utf8)
        return Tree(entries: [file, folder, link]).encoded(contentHashPrefix: prefix)
    }

    static func sampleIndex() throws -> [UInt8] {
        RepositoryIndex.encode([
            (try .random(), [PackEntry(kind: .blob, id: try .random(), offset: 0, length: 100), PackEntry(kind: .tree, id: try .random(), offset: 100, length: 50)]),
            (try .random(), [PackEntry(kind: .signature, id: try .random(), offset: 0, length: 7)]),
        ])
    }

    static func sampleSignature() throws -> [UInt8] {
        let signature = BlockSignature(
            fileSize: 10_000, blockSize: 4096, strongLength: 8, extents: [Extent(object: try .random(), offset: 0, length: 10_000)],
            weak: [1, 2, 3], strong: Array(repeating: 9, count: 24))
        return signature.encoded()
    }

    /// Mutations of `bytes`: each a plausible kind of damage or of crafting.
    static func mutations(of bytes: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
        var random = SeededGenerator(state: seed)
        var result: [[UInt8]] = [[], Array(bytes.prefix(1)), Array(bytes.dropLast())]
        let extremes: [[UInt8]] = [
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],  // 2^63 - 1
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // 2^64 - 1
            [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // 2^32 - 1
            [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // too long
        ]
        for _ in 0..<count {
            var mutated = bytes
            guard !mutated.isEmpty else { break }
            switch Int.random(in: 0..<5, using: &random) {
            case 0:
                for _ in 0...Int.random(in: 0..<3, using: &random) {
                    mutated[Int.random(in: 0..<mutated.count, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                }
            case 1: mutated = Array(mutated.prefix(Int.random(in: 0..<mutated.count, using: &random)))
            case 2: mutated.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...mutated.count, using: &random))
            case 3:
                let at = Int.random(in: 0..<mutated.count, using: &random)
                mutated.replaceSubrange(at..<min(at + Int.random(in: 1...3, using: &random), mutated.count), with: extremes.randomElement(using: &random)!)
            default: mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            result.append(mutated)
        }
        return result
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func treesIndexesAndSignaturesNeverTrap(seed: UInt64) throws {
        var decoded = 0, refused = 0
        for input in Self.mutations(of: try Self.sampleTree(), count: 3000, seed: seed) {
            if (try? Tree.decode(input, what: "t", contentHashPrefix: Self.prefix)) != nil { decoded += 1 } else { refused += 1 }
        }

        for input in Self.mutations(of: try Self.sampleIndex(), count: 3000, seed: seed) {
            if (try? RepositoryIndex.decode(input, what: "i")) != nil { decoded += 1 } else { refused += 1 }
        }
        for input in Self.mutations(of: try Self.sampleSignature(), count: 3000, seed: seed) {
            if (try? BlockSignature.decode(input, what: "s")) != nil { decoded += 1 } else { refused += 1 }
        }
        #expect(refused > 0 && decoded > 0, "mutations both kept and broke the structure: \(decoded) decoded, \(refused) refused")
    }

    @Test(arguments: [1, 2] as [UInt64])
    func packHeadersObjectsAndKeyFilesNeverTrap(seed: UInt64) async throws {
        let codec = ObjectCodec.unencrypted
        // A pack's header: sealed (unencrypted: checksummed) after mutating its plaintext, so
        // the checks after the seal are what is exercised.
        var header = BinaryWriter()
        header.varint(1)
        header.varint(2)
        for offset in [0, 40] {
            header.byte(ObjectKind.blob.rawValue)
            header.id(try .random())
            header.varint(offset)
            header.varint(40)
        }
        for plaintext in Self.mutations(of: header.bytes, count: 1500, seed: seed) {
            let box = try codec.seal(.packHeader, id: PackFormat.headerID, plaintext: plaintext, compressor: Compressor(Compression(algorithm: .none, level: nil)))
            var trailer = BinaryWriter()
            trailer.uint32LE(UInt32(box.count))
            let pack = Array(repeating: UInt8(0), count: 80) + box + trailer.bytes
            let storage = MemoryStorage()
            try await storage.put("data/00/pack", pack)
            _ = try? await PackHeader.read(from: storage, key: "data/00/pack", size: pack.count, codec: codec)
        }
        // Whole packs, the trailer included, damaged.
        for pack in Self.mutations(of: Array(repeating: UInt8(1), count: 60) + [200, 0, 0, 0], count: 300, seed: seed) {
            let storage = MemoryStorage()
            try await storage.put("data/00/pack", pack)
            _ = try? await PackHeader.read(from: storage, key: "data/00/pack", size: pack.count, codec: codec)
        }
        // Sealed objects: the compression header's method and length are untrusted too.
        let box = try codec.seal(.blob, id: try .random(), plaintext: Array(String(repeating: "text ", count: 200).utf8), compressor: Compressor(.default))
        for input in Self.mutations(of: box, count: 1500, seed: seed) {
            _ = try? codec.open(.blob, id: try .random(), box: input, where: "x")
        }
        // Key files and the descriptor: JSON, with numbers that drive memory (scrypt).
        let file = try KeyFile.wrap(
            try MasterKey.random(), passphrase: Array("p".utf8), algorithm: .aes256GCM, repositoryID: "ab", parameters: ScryptParameters(logN: 10, r: 8, p: 1),
            label: nil, run: .live())
        for input in Self.mutations(of: try KeyFile.encode(file), count: 1500, seed: seed) {
            if let decoded = try? KeyFile.decode(input, at: "k") {
                _ = try? decoded.unwrap(passphrase: Array("p".utf8), algorithm: .aes256GCM, repositoryID: "ab")
            }
        }
        let descriptor = try RepositoryDescriptor(id: .random(), encryption: "none", created: Date()).encoded()
        for input in Self.mutations(of: descriptor, count: 1500, seed: seed) { _ = try? RepositoryDescriptor.decode(input, at: "d") }
    }

    @Test func theCraftedCasesThatCrashedAreDamage() throws {
        // A tree extent at offset 2^63 - 1 (restore added its length and trapped).
        var entry = TreeEntry(name: Array("evil".utf8), kind: .file)
        entry.size = 16
        entry.content = [Extent(object: try .random(), offset: Int.max, length: 16)]
        let tree = Tree(entries: [entry]).encoded(contentHashPrefix: Self.prefix)
        #expect(throws: FormatError.self) { try Tree.decode(tree, what: "t", contentHashPrefix: Self.prefix) }
        // A file size past Int.max (restore converted it to Int).
        var huge = TreeEntry(name: Array("huge".utf8), kind: .file)
        huge.size = UInt64.max
        #expect(throws: FormatError.self) { try Tree.decode(Tree(entries: [huge]).encoded(contentHashPrefix: Self.prefix), what: "t", contentHashPrefix: Self.prefix) }
        // A key file asking scrypt for 128 GiB.
        #expect(throws: CryptoError.self) { try ScryptParameters(logN: 24, r: 64, p: 1).deriveKey(passphrase: [1], salt: [2]) }
    }

    /// The corpus libFuzzer built (`scripts/fuzz.sh`, fuzz/corpus): each input, as the fuzz
    /// target reads it (its first byte picks the decoder), decodes or throws.
    @Test func theFuzzCorpusDecodesOrIsRefused() throws {
        let folder = SourceTree.path("fuzz/corpus")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(names.count > 100, "the corpus is there")
        for name in names {
            DecoderFuzzing.decode(Array(try #require(FileManager.default.contents(atPath: folder + "/" + name))))
        }
    }
}
