import Testing
@testable import StrataCluster

/// A clock's instant that tests move by hand.
struct TestInstant: InstantProtocol, Sendable {
    var offset: Duration
    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }
}

@Suite struct HealthStateMachineTests {
    let start = TestInstant(offset: .zero)

    @Test func pingsEveryPeerAtOnceThenEveryInterval() {
        var machine = HealthStateMachine(peerCount: 2, now: start, timeout: .seconds(2), interval: .milliseconds(200))
        do { let result = machine.tick(now: start); #expect(result == [.ping(0), .ping(1)]) }
        // In flight: no second PING.
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(100))); #expect(result == []) }
        do { let result = machine.pong(0, now: start.advanced(by: .milliseconds(150))); #expect(result == nil) }
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(250))); #expect(result == [.ping(0)]) }
    }

    @Test func silentPeerGoesDownAfterTimeoutAndComesBack() {
        var machine = HealthStateMachine(peerCount: 1, now: start, timeout: .seconds(2), interval: .milliseconds(200))
        _ = machine.tick(now: start)
        machine.pingFailed(0, now: start.advanced(by: .milliseconds(10)))
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(1900))); #expect(result == [.ping(0)]) }
        machine.pingFailed(0, now: start.advanced(by: .milliseconds(1910)))
        #expect(machine.isUp(0))
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(2100))); #expect(result == [.markDown(0), .ping(0)]) }
        #expect(!machine.isUp(0))
        // Down stays down without a reply; no repeated markDown.
        machine.pingFailed(0, now: start.advanced(by: .milliseconds(2110)))
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(2400))); #expect(result == [.ping(0)]) }
        do { let result = machine.pong(0, now: start.advanced(by: .milliseconds(2450))); #expect(result == .markUp(0)) }
        #expect(machine.isUp(0))
    }

    @Test func lostPingIsRetriedAfterTimeout() {
        var machine = HealthStateMachine(peerCount: 1, now: start, timeout: .seconds(1), interval: .milliseconds(100))
        do { let result = machine.tick(now: start); #expect(result == [.ping(0)]) }
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(500))); #expect(result == []) }
        do { let result = machine.tick(now: start.advanced(by: .milliseconds(1100))); #expect(result == [.markDown(0), .ping(0)]) }
    }
}
