import Foundation
import Testing

@testable import CairnCore

/// How paths are shown to people: UTF-8 as it is, anything else escaped, so a hostile name
/// cannot move the cursor or pass for another.
@Suite("Paths shown to people")
struct FilePathDisplayTests {
    @Test("plain UTF-8 is shown as it is")
    func plain() {
        #expect(FilePath.display(Array("/home/me/Übersicht ✓.txt".utf8)) == "/home/me/Übersicht ✓.txt")
        #expect(FilePath.display([]) == "")
    }

    @Test("control characters, DEL, backslashes and bytes that are not UTF-8 are escaped")
    func escaped() {
        #expect(FilePath.display(Array("a\nb".utf8)) == "a\\x0Ab")
        #expect(FilePath.display(Array("a\u{1B}[2Jb".utf8)) == "a\\x1B[2Jb")
        #expect(FilePath.display([0x61, 0x7F]) == "a\\x7F")
        #expect(FilePath.display(Array("a\\x41".utf8)) == "a\\\\x41")
        #expect(FilePath.display([0x66, 0xFF, 0xFE]) == "f\\xFF\\xFE")
        // A sequence cut short and an overlong encoding are not UTF-8.
        #expect(FilePath.display([0x61, 0xC3]) == "a\\xC3")
        #expect(FilePath.display([0xC0, 0xAF]) == "\\xC0\\xAF")
        // Valid UTF-8 next to a bad byte keeps its characters.
        #expect(FilePath.display(Array("é".utf8) + [0xFF]) == "é\\xFF")
    }

    @Test("the fast path and the escaping path agree on random names")
    func agree() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<12, using: &generator)
            let alphabet: [UInt8] = [0x00, 0x0A, 0x1B, 0x20, 0x41, 0x5C, 0x7F, 0x80, 0xA9, 0xC3, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xFF]
            let bytes = (0..<count).map { _ in alphabet.randomElement(using: &generator)! }
            let shown = FilePath.display(bytes)
            #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(bytes)")
            if let text = String(validating: bytes, as: UTF8.self), !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x5C }) {
                #expect(shown == text)
            }
        }
    }
}
