// swift-tools-version: 6.1
// libFuzzer targets for Strata's parsers: `make fuzz` (in the repository root) builds them with
// `-sanitize=fuzzer,address` and runs each for a set time on the seed corpus in Corpus/. Each
// target's main hands its test function to libFuzzer's driver (LLVMFuzzerRunDriver).
import PackageDescription

let package = Package(
    name: "strata-fuzz",
    dependencies: [
        .package(name: "strata", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CFuzzer"),
        .executableTarget(name: "FuzzRequestParser", dependencies: ["CFuzzer",
            .product(name: "StrataRESP", package: "strata"), .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .executableTarget(name: "FuzzReplyScanner", dependencies: ["CFuzzer",
            .product(name: "StrataRESP", package: "strata"), .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .executableTarget(name: "FuzzConfig", dependencies: ["CFuzzer", .product(name: "StrataConfig", package: "strata")]),
        .executableTarget(name: "FuzzGlob", dependencies: ["CFuzzer", .product(name: "StrataStore", package: "strata")]),
    ]
)
