import CMalloc

/// The HELP replies of container commands, in Redis's format (`addReplyHelp` in Redis's
/// `networking.c`): a title line, each subcommand followed by its indented description, then HELP.
enum CommandHelp {
    static func reply(_ c: inout CommandContext, command: String, _ lines: [String]) {
        c.reply.arrayHeader(lines.count + 3)
        c.reply.simpleString("\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        for line in lines { c.reply.simpleString(line) }
        c.reply.simpleString("HELP")
        c.reply.simpleString("    Prints this help.")
    }

    static func object(_ c: inout CommandContext) {
        reply(&c, command: "OBJECT", [
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ])
    }

    static func memory(_ c: inout CommandContext) {
        reply(&c, command: "MEMORY", [
            "DOCTOR",
            "    Return memory problems reports.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ])
    }

    static func command(_ c: inout CommandContext) {
        reply(&c, command: "COMMAND", [
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ])
    }

    /// MEMORY PURGE: gives memory the allocator holds but no longer uses back to the system
    /// (glibc's `malloc_trim`), as Redis does with jemalloc's purge.
    static func memoryPurge(_ c: inout CommandContext) {
        AllocatorMemory.purge()
        c.reply.simpleString("OK")
    }

    /// MEMORY DOCTOR: Redis's report on fragmentation and peaks, reduced to what Strata measures.
    static func memoryDoctor(_ c: inout CommandContext) {
        let used = c.server.keyspace.usedMemory
        let rss = ServerCommands.residentBytes()
        var text: String
        if used < 5 * 1024 * 1024 {
            text = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
        } else if rss * 10 > used * 14 {
            let ratio = (rss * 100 / used)
            text = "Sam, I detected a few issues in this Strata instance memory implants:\n\n"
                + " * High process RSS overhead: RSS is \(rss) bytes for \(used) bytes of data (ratio \(ratio / 100).\(ratio % 100 < 10 ? "0" : "")\(ratio % 100)). "
                + "Memory freed after a burst may still be held by the allocator: MEMORY PURGE gives it back.\n\n"
                + "I'm here to keep you safe, Sam. I want to help you."
        } else {
            text = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
        }
        c.reply.verbatim(text)
    }
}

/// glibc's allocator: how much it holds free, and giving that back to the system.
public enum AllocatorMemory {
    /// Bytes the allocator holds in free chunks (glibc's `mallinfo2().fordblks`).
    public static var freeBytes: Int { Int(mallinfo2().fordblks) }

    /// Returns free memory to the system (`malloc_trim(0)`: every arena, not only the top).
    public static func purge() {
        _ = malloc_trim(0)
    }

    /// Purges when the allocator holds more than 8 MB, and more than an eighth of the RSS, free:
    /// after a burst (large replies, a big pipeline, many keys deleted) the memory goes back to
    /// the system, as jemalloc's background purging does for Redis. Returns the bytes that were
    /// free, or 0.
    @discardableResult
    public static func purgeIfWorthIt() -> Int {
        let free = freeBytes
        guard free > 8 << 20, free > ServerCommands.residentBytes() / 8 else { return 0 }
        purge()
        return free
    }
}
