/// One input of the decoders' fuzzing (the libFuzzer target in fuzz/ and the corpus replayed by
/// the tests): its first byte picks a decoder of repository data, the rest is that decoder's
/// input. Every decoder must return a value or throw; a trap is a finding.
enum DecoderFuzzing {
    static let contentHashPrefix = [UInt8](repeating: 7, count: 32)

    static func decode(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let input = Array(bytes.dropFirst())
        switch selector % 6 {
        case 0: _ = try? Tree.decode(input, what: "tree", contentHashPrefix: contentHashPrefix)
        case 1: _ = try? RepositoryIndex.decode(input, what: "index")
        case 2: _ = try? BlockSignature.decode(input, what: "signature")
        case 3: _ = try? KeyFile.decode(input, at: "key")
        case 4: _ = try? RepositoryDescriptor.decode(input, at: "descriptor")
        default:
            // An unencrypted sealed object: checksummed, not authenticated, so anyone can craft one.
            let codec = ObjectCodec.unencrypted
            let box = input + Hashing.sha256(ObjectCodec.associatedData(.blob, PackFormat.headerID) + input)
            _ = try? codec.open(.blob, id: PackFormat.headerID, box: box, where: "object")
        }
    }
}
