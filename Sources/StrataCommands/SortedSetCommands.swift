import StrataRESP
import StrataStore

extension CommandTable {
    static let sortedSets: [CommandSpec] = [
    ]
}

enum SortedSetCommands {
}
