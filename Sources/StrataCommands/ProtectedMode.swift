import StrataConfig

/// `protected-mode`, as in Redis: while it is on and the `default` user has no password, a
/// client connecting from anywhere but the loopback interface gets ``denial`` and is closed.
/// (With a loopback-only `bind` no such client can connect in the first place.)
public enum ProtectedMode {
    /// Whether a client from `remoteIP` (nil: not an IP connection) is refused.
    public static func refuses(_ configuration: Configuration, remoteIP: String?) -> Bool {
        guard configuration.protectedMode, configuration.requirePass.isEmpty, let remoteIP else { return false }
        return !isLoopback(remoteIP)
    }

    /// 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6.
    public static func isLoopback(_ ip: String) -> Bool {
        let lower = ip.lowercased()
        if lower.hasPrefix("127.") || lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return true }
        if lower.hasPrefix("::ffff:127.") { return true }
        return false
    }

    /// Redis 7.0's reply to a refused client, sent as soon as it connects.
    public static let denial = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"
}
