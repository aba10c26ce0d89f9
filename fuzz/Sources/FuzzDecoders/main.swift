@testable import CairnCore
import Foundation

/// libFuzzer's driver (the program's main is Swift's, so libFuzzer's own is not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// One input (`DecoderFuzzing`: the first byte picks a decoder, the rest is its input).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    DecoderFuzzing.decode(Array(UnsafeBufferPointer(start: start, count: count)))
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { fuzz($0, $1) })
