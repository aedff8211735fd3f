// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "strata",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "strata-server", targets: ["strata-server"]),
        .library(name: "StrataRESP", targets: ["StrataRESP"]),
        .library(name: "StrataStore", targets: ["StrataStore"]),
        // For the micro-benchmarks in Benchmarks/, which drive the dispatcher without sockets.
        .library(name: "StrataCommands", targets: ["StrataCommands"]),
        .library(name: "StrataConfig", targets: ["StrataConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // Wire format only: RESP2/RESP3 parsing and encoding. Knows nothing of storage or commands.
        .target(
            name: "StrataRESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The keyspace: sharded hash tables, L1/L2 LRU tiers, expiry. Knows nothing of sockets or RESP.
        .target(
            name: "StrataStore",
            dependencies: [
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        // The system SQLite library (libsqlite3-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Debian's Lua 5.1 with lua-cjson and Lua BitOp, for EVAL (liblua5.1-0-dev, lua-cjson-dev, lua-bitop-dev).
        .systemLibrary(name: "CLua", pkgConfig: "lua5.1",
                       providers: [.apt(["liblua5.1-0-dev", "lua-cjson-dev", "lua-bitop-dev"])]),
        // Lua scripting: the per-thread Lua states, the sandbox, the script cache and the
        // Lua⇄RESP conversions. Knows nothing of commands: a script's redis.call goes to a callback.
        .target(
            name: "StrataScripting",
            dependencies: [
                "CLua", "StrataRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // glibc's malloc.h: malloc_trim, to give freed memory back to the system.
        .systemLibrary(name: "CMalloc"),
        // L3: the SQLite-persisted tier and its write batcher. SQLite runs on its own threads only.
        .target(
            name: "StrataPersistence",
            dependencies: [
                "CSQLite", "StrataStore", "StrataCommands", "StrataConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Configuration directives: parsing of config files and `--name value` arguments, validation.
        .target(name: "StrataConfig", dependencies: ["StrataStore"]),
        // The declarative command table and the command implementations.
        .target(
            name: "StrataCommands",
            dependencies: [
                "StrataRESP", "StrataStore", "StrataConfig", "CMalloc", "StrataScripting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Multi-node: hash slots on a consistent-hashing ring, forwarding (proxy) or -MOVED (redirect),
        // health checks of the other nodes.
        .target(
            name: "StrataCluster",
            dependencies: [
                "StrataCommands", "StrataRESP", "StrataConfig", "StrataStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Networking: NIO bootstrap, per-connection handler, services.
        .target(
            name: "StrataServer",
            dependencies: [
                "StrataRESP", "StrataCommands", "StrataStore", "StrataConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "strata-server",
            dependencies: [
                "StrataServer", "StrataCluster", "StrataConfig", "StrataPersistence", "StrataStore", "StrataCommands",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "StrataRESPTests",
            dependencies: ["StrataRESP", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "StrataStoreTests", dependencies: ["StrataStore"]),
        .testTarget(name: "StrataConfigTests", dependencies: ["StrataConfig"]),
        .testTarget(
            name: "StrataScriptingTests",
            dependencies: ["StrataScripting", "StrataRESP", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "StrataClusterTests",
            dependencies: ["StrataCluster", "StrataCommands", "StrataConfig", "StrataRESP",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "StrataPersistenceTests",
            dependencies: ["StrataPersistence", "StrataStore", "StrataCommands",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "StrataCommandsTests",
            dependencies: ["StrataCommands", "StrataRESP", "StrataStore", "StrataConfig",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "StrataServerTests",
            dependencies: ["StrataServer", "StrataRESP", "StrataConfig",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
