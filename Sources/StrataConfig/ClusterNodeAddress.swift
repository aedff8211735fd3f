/// One entry of `cluster-nodes`: `host:port[@weight]`.
public struct ClusterNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Relative capacity: a node of weight 2 gets twice the virtual nodes, so twice the slots.
    public var weight: Int

    public init(host: String, port: Int, weight: Int = 1) {
        self.host = host
        self.port = port
        self.weight = weight
    }

    /// `host:port`, the node's identity on the ring (the weight is not part of it).
    public var endpoint: String { "\(host):\(port)" }

    public var description: String { weight == 1 ? endpoint : "\(endpoint)@\(weight)" }

    public struct ParseError: Error, Sendable {
        public var reason: String
    }

    /// Parses `host:port[@weight]`.
    public static func parse(_ text: some StringProtocol) -> Result<ClusterNodeAddress, ParseError> {
        let trimmed = String(text).trimmingSpaces()
        var address = Substring(trimmed)
        var weight = 1
        if let at = address.lastIndex(of: "@") {
            guard let w = Int(address[address.index(after: at)...]), (1...100).contains(w) else {
                return .failure(ParseError(reason: "invalid weight in '\(trimmed)' (1 to 100)"))
            }
            weight = w
            address = address[..<at]
        }
        guard let colon = address.lastIndex(of: ":") else {
            return .failure(ParseError(reason: "expected host:port[@weight], got '\(trimmed)'"))
        }
        let host = String(address[..<colon])
        // A host is a name or an address: no `@`, separator, space or control character (a host
        // with `@` would print as something else, found by the configuration fuzzer).
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || ".-_:[]%".contains(c)) }
        guard !host.isEmpty, host.allSatisfy(allowed), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
            return .failure(ParseError(reason: "expected host:port[@weight], got '\(trimmed)'"))
        }
        return .success(ClusterNodeAddress(host: host, port: port, weight: weight))
    }

    /// Parses a comma- (or space-) separated list; an empty list is a standalone node.
    public static func parseList(_ text: String) -> Result<[ClusterNodeAddress], ParseError> {
        var nodes: [ClusterNodeAddress] = []
        for item in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !item.isEmpty {
            switch parse(item) {
            case .success(let node):
                if nodes.contains(where: { $0.endpoint == node.endpoint }) {
                    return .failure(ParseError(reason: "node '\(node.endpoint)' listed twice"))
                }
                nodes.append(node)
            case .failure(let error): return .failure(error)
            }
        }
        guard nodes.count <= 1000 else { return .failure(ParseError(reason: "at most 1000 nodes")) }
        return .success(nodes)
    }
}

extension Result where Failure == ClusterNodeAddress.ParseError {
    /// The failure's reason, or nil on success.
    public var failure: String? {
        if case .failure(let error) = self { return error.reason }
        return nil
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
