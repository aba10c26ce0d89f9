// swift-tools-version: 6.0
// A libFuzzer target over cairn's decoders of repository data. Build and run it with
// scripts/fuzz.sh (swift build -Xswiftc -sanitize=fuzzer); it is not part of the main build.
import Foundation
import PackageDescription

// A path dependency is known by its folder's name, whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "cairn-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "FuzzDecoders", dependencies: [.product(name: "CairnCore", package: root.lastPathComponent)])
    ],
    swiftLanguageModes: [.v6]
)
