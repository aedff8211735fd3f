import StrataRESP
import StrataStore

extension CommandTable {
    static let hashes: [CommandSpec] = [
    ]
}

enum HashCommands {
}
