import NIOConcurrencyHelpers
import Synchronization

/// A function a library registered (`redis.register_function`).
public struct LibraryFunction: Sendable, Equatable {
    public let name: String
    public let description: [UInt8]?
    public let flags: ScriptFlags

    public init(name: String, description: [UInt8]?, flags: ScriptFlags) {
        self.name = name
        self.description = description
        self.flags = flags
    }
}

/// A library loaded by FUNCTION LOAD: its code and the functions its code registered.
///
/// Immutable; each load makes a new one with a new ``id``. Every thread's ``LuaEngine`` runs
/// the code once, the first time it calls one of the functions, and keeps the functions under
/// that id.
public final class Library: Sendable {
    public let id: Int
    public let name: String
    /// The whole payload of FUNCTION LOAD, shebang included (FUNCTION LIST WITHCODE, DUMP).
    public let code: [UInt8]
    /// Where the Lua code starts: at the shebang's newline, so that line numbers count it.
    public let codeOffset: Int
    /// Sorted by name.
    public let functions: [LibraryFunction]

    init(id: Int, name: String, code: [UInt8], codeOffset: Int, functions: [LibraryFunction]) {
        self.id = id
        self.name = name
        self.code = code
        self.codeOffset = codeOffset
        self.functions = functions.sorted { $0.name < $1.name }
    }

    public func function(named name: String) -> LibraryFunction? { functions.first { $0.name == name } }
}

/// The libraries of a server and their functions (Redis's `functionsLibCtx`): shared by every
/// event loop, under a lock. Loading runs the library's code in the caller's thread's
/// ``LuaEngine`` (which validates it and collects its functions); the other threads' engines
/// run it when they first call one of its functions.
public final class FunctionLibraries: Sendable {
    struct State {
        var libraries: [String: Library] = [:]
        /// Function name → its library.
        var functions: [String: Library] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Changes with every change of the set; an engine then drops the libraries that are gone.
    private let generationCounter = Atomic<Int>(0)
    /// Tells registries apart (tests run several servers on the same threads).
    let identity: Int
    private static let identities = Atomic<Int>(1)
    private static let libraryIDs = Atomic<Int>(1)

    /// A library's code may run this long at load time (Redis's `LOAD_TIMEOUT_MS`).
    public static let loadTimeoutMilliseconds: Int64 = 500

    public init() {
        identity = Self.identities.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    func isLoaded(id: Int) -> Bool {
        state.withLockedValue { state in state.libraries.values.contains { $0.id == id } }
    }

    /// The function called `name` and its library (FCALL).
    public func function(named name: String) -> (library: Library, function: LibraryFunction)? {
        guard let library = state.withLockedValue({ $0.functions[name] }), let function = library.function(named: name) else {
            return nil
        }
        return (library, function)
    }

    /// Every library, sorted by name.
    public var libraries: [Library] {
        state.withLockedValue { Array($0.libraries.values) }.sorted { $0.name < $1.name }
    }

    public var counts: (libraries: Int, functions: Int) {
        state.withLockedValue { ($0.libraries.count, $0.functions.count) }
    }

    private func changed() { generationCounter.wrappingAdd(1, ordering: .releasing) }

    // MARK: - Loading

    /// The library name in a payload's shebang (`#!lua name=mylib`) and where its code starts,
    /// checked as Redis's `functionExtractLibMetaData` and `functionsCreateWithLibraryCtx` do.
    public static func metadata(_ code: [UInt8]) -> Result<(name: String, codeOffset: Int), ScriptError> {
        guard code.count >= 2, code[0] == UInt8(ascii: "#"), code[1] == UInt8(ascii: "!") else {
            return .failure(ScriptError("ERR Missing library metadata"))
        }
        guard let newline = code.firstIndex(of: UInt8(ascii: "\n")) else {
            return .failure(ScriptError("ERR Invalid library metadata"))
        }
        let parts = code[0..<newline].split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0B || $0 == 0x0C })
            .map { String(decoding: $0, as: UTF8.self) }
        guard let first = parts.first else { return .failure(ScriptError("ERR Invalid library metadata")) }
        var name: String?
        for part in parts.dropFirst() {
            guard part.lowercased().hasPrefix("name=") else {
                return .failure(ScriptError("ERR Invalid metadata value given: \(part)"))
            }
            if name != nil {
                return .failure(ScriptError("ERR Invalid metadata value, name argument was given multiple times"))
            }
            name = String(part.dropFirst(5))
        }
        guard let name else { return .failure(ScriptError("ERR Library name was not given")) }
        guard isValidName(name) else {
            return .failure(ScriptError(
                "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"))
        }
        let engine = first.dropFirst(2)
        guard engine.lowercased() == "lua" else { return .failure(ScriptError("ERR Engine '\(engine)' not found")) }
        return .success((name, newline))
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
        }
    }

    /// Runs the code of a library in `engine` and builds it, without adding it.
    public static func compile(_ code: [UInt8], engine: LuaEngine) -> Result<Library, ScriptError> {
        let metadata: (name: String, codeOffset: Int)
        switch Self.metadata(code) {
        case .failure(let error): return .failure(error)
        case .success(let found): metadata = found
        }
        return compile(code, name: metadata.name, codeOffset: metadata.codeOffset, engine: engine)
    }

    private static func compile(_ code: [UInt8], name: String, codeOffset: Int, engine: LuaEngine) -> Result<Library, ScriptError> {
        let id = libraryIDs.wrappingAdd(1, ordering: .relaxed).oldValue
        switch engine.loadLibrary(id: id, code: code, codeOffset: codeOffset) {
        case .failure(let error):
            return .failure(error)
        case .success(let functions):
            guard !functions.isEmpty else {
                engine.forgetLibrary(id: id)
                return .failure(ScriptError("ERR No functions registered"))
            }
            return .success(Library(id: id, name: name, code: code, codeOffset: codeOffset, functions: functions))
        }
    }

    /// FUNCTION LOAD: returns the library's name, or Redis's error.
    public func load(_ code: [UInt8], replace: Bool, engine: LuaEngine) -> Result<String, ScriptError> {
        let metadata: (name: String, codeOffset: Int)
        switch Self.metadata(code) {
        case .failure(let error): return .failure(error)
        case .success(let found): metadata = found
        }
        let exists = ScriptError("ERR Library '\(metadata.name)' already exists")
        if !replace && state.withLockedValue({ $0.libraries[metadata.name] != nil }) { return .failure(exists) }
        let library: Library
        switch Self.compile(code, name: metadata.name, codeOffset: metadata.codeOffset, engine: engine) {
        case .failure(let error): return .failure(error)
        case .success(let built): library = built
        }
        let error = state.withLockedValue { state -> ScriptError? in
            if !replace && state.libraries[library.name] != nil { return exists }
            for function in library.functions {
                if let owner = state.functions[function.name], owner.name != library.name {
                    return ScriptError("ERR Function \(function.name) already exists")
                }
            }
            Self.remove(library.name, from: &state)
            Self.add(library, to: &state)
            return nil
        }
        if let error {
            engine.forgetLibrary(id: library.id)
            return .failure(error)
        }
        changed()
        return .success(library.name)
    }

    private static func remove(_ name: String, from state: inout State) {
        guard let old = state.libraries.removeValue(forKey: name) else { return }
        for function in old.functions { state.functions[function.name] = nil }
    }

    private static func add(_ library: Library, to state: inout State) {
        state.libraries[library.name] = library
        for function in library.functions { state.functions[function.name] = library }
    }

    /// FUNCTION DELETE: whether the library existed.
    public func delete(_ name: String) -> Bool {
        let found = state.withLockedValue { state -> Bool in
            guard state.libraries[name] != nil else { return false }
            Self.remove(name, from: &state)
            return true
        }
        if found { changed() }
        return found
    }

    /// FUNCTION FLUSH.
    public func flush() {
        state.withLockedValue { $0 = State() }
        changed()
    }

    // MARK: - DUMP and RESTORE

    public enum RestorePolicy: Sendable { case flush, append, replace }

    /// FUNCTION RESTORE of libraries already compiled (see ``compile(_:engine:)``), as Redis's
    /// `libraryJoin` does: all or nothing.
    public func restore(_ libraries: [Library], policy: RestorePolicy) -> ScriptError? {
        // Within the payload, as loading it into an empty set would.
        var names = Set<String>(), functions = Set<String>()
        for library in libraries {
            guard names.insert(library.name).inserted else { return ScriptError("ERR Library '\(library.name)' already exists") }
            for function in library.functions where !functions.insert(function.name).inserted {
                return ScriptError("ERR Function \(function.name) already exists")
            }
        }
        let error = state.withLockedValue { state -> ScriptError? in
            var next = policy == .flush ? State() : state
            for library in libraries where next.libraries[library.name] != nil {
                if policy == .append { return ScriptError("ERR Library \(library.name) already exists") }
                Self.remove(library.name, from: &next)
            }
            for library in libraries {
                for function in library.functions where next.functions[function.name] != nil {
                    return ScriptError("ERR Function \(function.name) already exists")
                }
            }
            for library in libraries { Self.add(library, to: &next) }
            state = next
            return nil
        }
        if error == nil { changed() }
        return error
    }

    static let dumpMagic: [UInt8] = Array("STRATAFN".utf8)
    static let dumpVersion: UInt8 = 1

    /// FUNCTION DUMP: `STRATAFN`, a version byte, the number of libraries (4 bytes, big
    /// endian), each library's code (length in 4 bytes, then the bytes), then the CRC-64 of
    /// everything before it (8 bytes, little endian).
    public func dump() -> [UInt8] {
        Self.payload(libraries.map(\.code))
    }

    public static func payload(_ codes: [[UInt8]]) -> [UInt8] {
        var out = dumpMagic
        out.append(dumpVersion)
        appendUInt32(UInt32(codes.count), to: &out)
        for code in codes {
            appendUInt32(UInt32(code.count), to: &out)
            out.append(contentsOf: code)
        }
        let checksum = CRC64.checksum(out)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(i)))) }
        return out
    }

    /// The codes of a DUMP payload; nil when it is not one of this version or its checksum is wrong.
    public static func codes(inPayload payload: [UInt8]) -> [[UInt8]]? {
        let header = dumpMagic.count + 1 + 4
        guard payload.count >= header + 8, payload.starts(with: dumpMagic), payload[dumpMagic.count] == dumpVersion else {
            return nil
        }
        let body = payload.count - 8
        var checksum: UInt64 = 0
        for i in 0..<8 { checksum |= UInt64(payload[body + i]) << (8 * UInt64(i)) }
        guard CRC64.checksum(payload[..<body]) == checksum else { return nil }
        var position = dumpMagic.count + 1
        func uint32() -> Int? {
            guard position + 4 <= body else { return nil }
            let value = payload[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
            position += 4
            return value
        }
        guard let count = uint32() else { return nil }
        var codes: [[UInt8]] = []
        for _ in 0..<count {
            guard let length = uint32(), position + length <= body else { return nil }
            codes.append(Array(payload[position..<(position + length)]))
            position += length
        }
        return position == body ? codes : nil
    }

    private static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// CRC-64/Jones (reflected polynomial 0x95AC9329AC4BC9B5), the checksum Redis's payloads use.
enum CRC64 {
    private static let table: [UInt64] = (0..<256).map { byte in
        var crc = UInt64(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var crc: UInt64 = 0
        for byte in bytes { crc = table[Int((crc ^ UInt64(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc
    }
}
