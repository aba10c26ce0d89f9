import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Seed folder: volumes of any size, files in pieces, read back while written")
struct SeedFolderTests {
    @Test func everyFileComesBackWhileTheVolumesAreWrittenAndAfter() async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 11)
        // Volumes of an odd size: each spans buffers of the writer, and ends mid-buffer.
        let volumeSize = 5_000_001
        let seed = try SeedFolder(folder: directory.path, set: "s", volumeSize: volumeSize, readOnly: false)
        var files: [String: [UInt8]] = [:]
        for number in 0..<3 {
            let key = "data/0\(number)/pack\(number)"
            let content = random.bytes(3_500_000 + number * 777)
            let upload = try await seed.openUpload(key)
            var done = 0
            while done < content.count {
                let piece = min(content.count - done, 1 + Int(random.next() % 400_000))
                try await upload.write(Array(content[done..<done + piece]))
                done += piece
            }
            try await upload.commit()
            files[key] = content
            // Read back in the session that writes it: whole, and a range across pieces.
            #expect(try await seed.get(key) == content)
            let range = 1_000_000..<2_200_000
            #expect(try await seed.read(key, range: range).bytes == Array(content[range]))
            await #expect(throws: StorageError.self) { _ = try await seed.read(key, range: content.count - 10..<content.count + 1) }
        }
        let index = random.bytes(1000)
        try await seed.put("index/aa", index)
        files["index/aa"] = index
        // Two writers of one key at once: exactly one wins.
        async let first = seed.putIfAbsent("cairn-repository", [1])
        async let second = seed.putIfAbsent("cairn-repository", [2])
        let (firstWon, secondWon) = try await (first, second)
        #expect(firstWon != secondWon)
        files["cairn-repository"] = firstWon ? [1] : [2]
        try await seed.finish(repository: "r", encryption: "none", snapshot: nil, key: nil, created: "2026-11-29T00:00:00Z")

        let manifest = try #require(await seed.manifest)
        let volumes = manifest.sessions[0].volumes
        #expect(volumes.count == 3, "\(volumes.map(\.size))")
        #expect(volumes.dropLast().allSatisfy { $0.size == volumeSize })
        #expect(manifest.sessions[0].members.contains { ($0.pieces?.count ?? 0) > 2 }, "a 3.5 MB upload is in pieces")
        #expect(Set(manifest.sessions[0].members.map(\.key)) == Set(files.keys), "each file named once")
        // Read again from the finished folder: every volume's SHA-256, every file.
        let reader = try SeedFolder(folder: directory.path, set: "s", readOnly: true)
        try await reader.checkVolumes()
        for (key, content) in files { #expect(try await reader.get(key) == content, "\(key)") }
    }

    @Test func aSecondSessionAddsAndNeverReplaces() async throws {
        let directory = try TemporaryDirectory()
        do {
            // Its lock on the folder goes with it.
            let first = try SeedFolder(folder: directory.path, set: "s", readOnly: false)
            try await first.put("keys/a", [1, 2, 3])
            try await first.finish(repository: "r", encryption: "none", snapshot: nil, key: nil, created: "2026-11-29T00:00:00Z")
            #expect(throws: SeedFailure.self) { _ = try SeedFolder(folder: directory.path, set: "s", readOnly: false) }
        }
        let second = try SeedFolder(folder: directory.path, set: "s", readOnly: false)
        #expect(try await second.putIfAbsent("keys/a", [9]) == false)
        await #expect(throws: SeedFailure.self) { try await second.put("keys/a", [9]) }
        try await second.put("keys/b", [4])
        try await second.finish(repository: "r", encryption: "none", snapshot: nil, key: nil, created: "2026-11-29T00:00:01Z")
        let reader = try SeedFolder(folder: directory.path, set: "s", readOnly: true)
        #expect(try await reader.get("keys/a") == [1, 2, 3])
        #expect(try await reader.get("keys/b") == [4])
        #expect(await reader.manifest?.version == SeedManifest.currentVersion)
    }
}
