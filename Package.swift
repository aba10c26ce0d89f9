// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "cairn",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .library(name: "CairnCore", targets: ["CairnCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // cairn server and its client (issue 23): HTTP/1.1 with TLS on SwiftNIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLinux"),
        // Hot byte loops in C, optimised even in debug builds (tests run them on real data).
        .target(name: "CCairnKernels", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("crypto")]),
        .target(
            name: "CairnCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                "COpenSSL", "CZlib", "CZstd", "CArchive", "CLinux", "CCairnKernels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .target(
            name: "CairnServer",
            dependencies: [
                "CairnCore", "COpenSSL", "CLinux",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .executableTarget(
            name: "cairn",
            dependencies: [
                "CairnCore", "CairnServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "CairnTesting", dependencies: ["CairnCore", "CLinux"]),
        .testTarget(name: "CairnCoreTests", dependencies: ["CairnCore", "CairnTesting", "CZstd"]),
        .testTarget(name: "CairnEndToEndTests", dependencies: ["cairn", "CairnCore", "CairnTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
