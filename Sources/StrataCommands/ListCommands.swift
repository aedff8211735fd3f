import StrataRESP
import StrataStore

extension CommandTable {
    static let lists: [CommandSpec] = [
    ]
}

enum ListCommands {
}
