import StrataRESP
import StrataStore

extension CommandTable {
    static let sets: [CommandSpec] = [
    ]
}

enum SetCommands {
}
