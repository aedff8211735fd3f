import StrataRESP
import StrataStore

extension CommandTable {
    static let bitmaps: [CommandSpec] = [
    ]
}

enum BitCommands {
}
