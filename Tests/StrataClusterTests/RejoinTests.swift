import Testing
@testable import StrataCluster

@Suite struct RejoinStateMachineTests {
    let start = TestInstant(offset: .zero)
    func at(_ ms: Int) -> TestInstant { start.advanced(by: .milliseconds(ms)) }
    func machine() -> RejoinStateMachine<TestInstant> {
        RejoinStateMachine(deadline: .seconds(10), pollInterval: .milliseconds(100))
    }

    @Test func aNodeWithoutPeersServesAtOnce() {
        var rejoin = machine()
        #expect(rejoin.begin(peers: [], now: start) == [.serve(waited: .zero, forced: [])])
        #expect(!rejoin.isRejoining)
    }

    @Test func servesOnlyOnceEveryPeerIsDone() {
        var rejoin = machine()
        #expect(rejoin.begin(peers: ["b:2", "a:1"], now: start) == [.poll("a:1"), .poll("b:2")])
        #expect(rejoin.answer(from: "a:1", done: true, now: at(5)) == [])
        // "WAIT": still handing back.
        #expect(rejoin.answer(from: "b:2", done: false, now: at(6)) == [])
        #expect(rejoin.isRejoining)
        // Only the peer that has not answered done is asked again, after the interval.
        #expect(rejoin.tick(now: at(50)) == [])
        #expect(rejoin.tick(now: at(100)) == [.poll("b:2")])
        #expect(rejoin.answer(from: "b:2", done: true, now: at(130)) == [.serve(waited: .milliseconds(130), forced: [])])
        #expect(!rejoin.isRejoining)
        // Late answers change nothing.
        #expect(rejoin.answer(from: "b:2", done: true, now: at(140)) == [])
    }

    @Test func aPeerThatRefusesConnectionsIsNotWaitedFor() {
        var rejoin = machine()
        _ = rejoin.begin(peers: ["a:1", "b:2"], now: start)
        #expect(rejoin.unreachable("a:1", now: at(1)) == [])
        #expect(rejoin.answer(from: "b:2", done: true, now: at(2)) == [.serve(waited: .milliseconds(2), forced: [])])
    }

    @Test func aSilentPeerIsGivenUpOnAtTheDeadline() {
        var rejoin = machine()
        _ = rejoin.begin(peers: ["a:1", "b:2"], now: start)
        #expect(rejoin.answer(from: "a:1", done: true, now: at(1)) == [])
        #expect(rejoin.tick(now: at(9_999)) == [.poll("b:2")])
        #expect(rejoin.tick(now: at(10_000)) == [.serve(waited: .seconds(10), forced: ["b:2"])])
    }

    @Test func aSecondStallDuringARejoinKeepsItsStartAndWaitsForEveryone() {
        var rejoin = machine()
        _ = rejoin.begin(peers: ["a:1", "b:2"], now: start)
        _ = rejoin.answer(from: "a:1", done: true, now: at(1))
        #expect(rejoin.begin(peers: ["a:1", "b:2"], now: at(500)) == [.poll("a:1"), .poll("b:2")])
        _ = rejoin.answer(from: "a:1", done: true, now: at(501))
        #expect(rejoin.answer(from: "b:2", done: true, now: at(502)) == [.serve(waited: .milliseconds(502), forced: [])])
    }

    @Test func aPeerRemovedFromTheClusterIsNotWaitedFor() {
        var rejoin = machine()
        _ = rejoin.begin(peers: ["a:1", "b:2"], now: start)
        _ = rejoin.answer(from: "a:1", done: true, now: at(1))
        #expect(rejoin.members(["a:1", "c:3"], now: at(2)) == [.serve(waited: .milliseconds(2), forced: [])])
    }
}

@Suite struct BorrowLedgerTests {
    let key = BorrowLedger.Key(database: 0, bytes: Array("k".utf8))
    let other = BorrowLedger.Key(database: 1, bytes: Array("j".utf8))

    @Test func aDeletionStaysMarkedUntilHandedBack() {
        let ledger = BorrowLedger()
        #expect(ledger.owesNothing(to: "p:1"))
        ledger.record(key, for: "p:1", deleted: true)
        // A later SET of the key does not forget that it was deleted here.
        ledger.record(key, for: "p:1", deleted: false)
        #expect(ledger.marks(for: "p:1")[key]?.deleted == true)
        #expect(!ledger.owesNothing(to: "p:1"))
        #expect(ledger.owesNothing(to: "q:2"))
    }

    @Test func aWriteDuringTheHandBackIsSentInTheNextRound() {
        let ledger = BorrowLedger()
        ledger.record(key, for: "p:1", deleted: false)
        ledger.record(other, for: "p:1", deleted: false)
        #expect(ledger.beginReturn(of: "p:1"))
        #expect(!ledger.beginReturn(of: "p:1"), "one hand-back at a time")
        let sent = ledger.marks(for: "p:1")
        // The key is written again while its first version is on the way.
        ledger.record(key, for: "p:1", deleted: false)
        ledger.handedBack(sent, to: "p:1")
        #expect(Array(ledger.marks(for: "p:1").keys) == [key])
        var flipped = false
        #expect(!ledger.endReturn(of: "p:1") { flipped = true })
        #expect(!flipped)
        #expect(!ledger.owesNothing(to: "p:1"), "still returning")
        ledger.handedBack(ledger.marks(for: "p:1"), to: "p:1")
        #expect(ledger.endReturn(of: "p:1") { flipped = true })
        #expect(flipped)
        #expect(ledger.owesNothing(to: "p:1"))
        #expect(ledger.figures == (held: 0, handedBack: 3, returns: 1))
    }

    @Test func anAbandonedHandBackKeepsItsMarks() {
        let ledger = BorrowLedger()
        ledger.record(key, for: "p:1", deleted: false)
        #expect(ledger.beginReturn(of: "p:1"))
        ledger.abandonReturn(of: "p:1")
        #expect(ledger.marks(for: "p:1").count == 1)
        #expect(ledger.beginReturn(of: "p:1"))
    }
}

@Suite struct StallDetectionTests {
    let start = TestInstant(offset: .zero)

    @Test func aLongGapBetweenTicksIsThisNodesStallNotThePeersSilence() {
        var machine = HealthStateMachine(peerCount: 2, now: start, timeout: .seconds(1), interval: .milliseconds(100),
                                         stallAfter: .milliseconds(500))
        _ = machine.tick(now: start)
        _ = machine.pong(0, now: start.advanced(by: .milliseconds(10)))
        _ = machine.pong(1, now: start.advanced(by: .milliseconds(10)))
        // Stopped for 3 s: every peer has been silent for longer than the timeout, but only
        // because this node did not run. Nobody is marked down; the stall is reported.
        let actions = machine.tick(now: start.advanced(by: .seconds(3)))
        #expect(actions == [.stalled(.seconds(3)), .ping(0), .ping(1)])
        #expect(machine.isUp(0) && machine.isUp(1))
        // Peers that stay silent after it are marked down as usual.
        var t = start.advanced(by: .seconds(3))
        var downs: [HealthStateMachine<TestInstant>.Action] = []
        for _ in 0..<12 {
            t = t.advanced(by: .milliseconds(100))
            downs += machine.tick(now: t).filter { if case .markDown = $0 { true } else { false } }
        }
        #expect(downs == [.markDown(0), .markDown(1)])
    }

    @Test func regularTicksNeverReportAStall() {
        var machine = HealthStateMachine(peerCount: 1, now: start, timeout: .seconds(1), interval: .milliseconds(100),
                                         stallAfter: .milliseconds(500))
        var t = start
        for _ in 0..<50 {
            t = t.advanced(by: .milliseconds(200))
            #expect(!machine.tick(now: t).contains { if case .stalled = $0 { true } else { false } })
        }
    }
}
