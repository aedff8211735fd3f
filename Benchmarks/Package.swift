// swift-tools-version: 6.1
// Micro-benchmarks for Strata, kept out of the main package so that neither `swift build` nor
// `make test` builds them (and the benchmark package's malloc interposer stays out of the server).
// Run from this directory: `swift package --disable-sandbox benchmark` (or `make microbench` above).
import PackageDescription

let package = Package(
    name: "StrataBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "strata", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // MallocInterposer: allocation counts without jemalloc (Swift 6.3+). Naming the trait list
        // also leaves the default RuntimeInterposer trait (and its extra package) off.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StrataBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StrataRESP", package: "strata"),
                .product(name: "StrataStore", package: "strata"),
                .product(name: "StrataCommands", package: "strata"),
                .product(name: "StrataConfig", package: "strata"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/StrataBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
