@testable import CairnCore
import Foundation

/// libFuzzer's driver (the program's main is Swift's, so libFuzzer's own is not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// One input: the first byte picks a decoder, the rest is its input. Every decoder must return
/// a value or throw; a trap, an out-of-range index or an overflow is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let input = Array(bytes.dropFirst())
    let prefix = [UInt8](repeating: 7, count: 32)
    switch bytes[0] % 6 {
    case 0: _ = try? Tree.decode(input, what: "tree", contentHashPrefix: prefix)
    case 1: _ = try? RepositoryIndex.decode(input, what: "index")
    case 2: _ = try? BlockSignature.decode(input, what: "signature")
    case 3: _ = try? KeyFile.decode(input, at: "key")
    case 4: _ = try? RepositoryDescriptor.decode(input, at: "descriptor")
    default:
        // An unencrypted sealed object (checksummed, not authenticated: anyone can craft one).
        let codec = ObjectCodec(aead: nil, identificationKey: nil)
        let body = Array(input)
        let associated = ObjectCodec.associatedData(.blob, PackHeader.headerID)
        let box = body + Hashing.sha256(associated + body)
        _ = try? codec.open(.blob, id: PackHeader.headerID, box: box, where: "object")
    }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { fuzz($0, $1) })
