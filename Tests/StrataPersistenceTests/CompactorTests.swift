import Testing
@testable import StrataPersistence
import StrataStore

@Suite struct CompactorVerdictTests {
    @Test(arguments: [
        // (row, key's state, held back earlier in the pass) -> verdict
        (5, CommittedRow.row(5), false, Compactor.Verdict.keep),           // the live version
        (5, CommittedRow.row(9), false, Compactor.Verdict.delete),         // superseded
        (9, CommittedRow.row(5), false, Compactor.Verdict.keepAndHoldBack), // newer than committed: keep
        (5, CommittedRow.absent, false, Compactor.Verdict.delete),         // deleted key (row or tombstone)
        (5, CommittedRow.pending, false, Compactor.Verdict.keepAndHoldBack), // maybe the durable copy
        (5, CommittedRow.row(9), true, Compactor.Verdict.keepAndHoldBack), // an older row of it stays
        (5, CommittedRow.absent, true, Compactor.Verdict.keepAndHoldBack), // its tombstone must stay too
    ])
    func verdicts(row: Int64, current: CommittedRow, heldBack: Bool, expected: Compactor.Verdict) {
        #expect(Compactor.verdict(seq: row, current: current, heldBack: heldBack) == expected)
    }
}
