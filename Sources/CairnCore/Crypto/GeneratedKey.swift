/// A new random key for an encryption profile, as `cairn init` writes to its key file: 160
/// bits from OpenSSL's generator, as 32 characters of Crockford's base32 in groups of four
/// (no i, l, o or u, so a copy on paper reads back), such as `k7q2-mx9c-...`.
public enum GeneratedKey {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func make() throws -> String {
        let bytes = try SecureRandom.bytes(20)
        var characters: [UInt8] = []
        // 160 bits, 5 at a time.
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            accumulator = (accumulator << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                characters.append(alphabet[Int((accumulator >> UInt32(bits)) & 31)])
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        let groups = stride(from: 0, to: characters.count, by: 4).map { String(decoding: characters[$0..<min($0 + 4, characters.count)], as: UTF8.self) }
        return groups.joined(separator: "-")
    }
}
