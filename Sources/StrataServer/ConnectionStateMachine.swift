/// The life of one client connection, as a pure state machine: whether its commands may run,
/// whether a read from its socket is held back, and when it closes.
///
/// ``ConnectionHandler`` reports events (input arrived, a command waits, the output is full…)
/// and carries out what the machine answers. The machine does no I/O, so tests drive it
/// directly.
///
/// Backpressure works by holding reads, as SwiftNIO's `HTTPServerPipelineHandler` does: while
/// commands cannot run, a read the channel asks for is recorded, not passed on, so the socket's
/// input stays in the kernel (and, once its buffer fills, in the client). Two things stop
/// commands from running:
/// - a command waits for something (a cold value from L3, a commit, L3's write queue): the
///   commands after it wait too, so that replies stay in order;
/// - the output is full: the client does not read its replies, and running more commands would
///   only pile more of them up in memory. The commands stay unparsed in the query buffer until
///   the client reads.
struct ConnectionStateMachine: Equatable {
    enum State: Equatable {
        /// Not active yet.
        case idle
        /// Open: commands run or wait (`flow`); `readHeld` is a read the channel asked for while
        /// commands could not run, passed on once they can.
        case open(flow: Flow, readHeld: Bool)
        /// The client closed its end (half-close): the commands it sent still run, in order, then
        /// the connection closes once their replies are written.
        case draining(flow: Flow)
        /// No more commands run (QUIT, a protocol error, a query buffer over its limit): the
        /// connection closes once the replies so far are written.
        case closing
        case closed
    }

    /// Whether commands run as their input arrives, and if not, what they wait for.
    enum Flow: Equatable {
        case running
        /// A command waits; the ones after it wait too.
        case waitingForCommand
        /// The output is full; nothing runs until the client reads.
        case waitingForOutput
        case waitingForCommandAndOutput
        /// A blocking command (BLPOP…) waits for a key; the ones after it wait too. Unlike
        /// `waitingForCommand`, reads go on: the input is kept, not run, so that the end of the
        /// connection is seen while the client waits (and it gives up its place at once).
        case blockedOnKeys
    }

    /// What to do with input that just arrived.
    enum Input: Equatable {
        /// Parse and run it now.
        case run
        /// Keep it with the unparsed input: it runs when commands may run again.
        case keep
        /// Drop it: the connection is closing.
        case drop
    }

    private(set) var state: State = .idle

    /// Whether commands may run now (checked before each one).
    var mayRun: Bool {
        switch state {
        case .open(.running, _), .draining(.running): true
        default: false
        }
    }

    var isClosing: Bool { state == .closing }

    /// The client closed its end: no more input will come.
    var isDraining: Bool { if case .draining = state { true } else { false } }

    /// Whether the output is what commands wait for.
    var waitsForOutput: Bool {
        switch flow {
        case .waitingForOutput, .waitingForCommandAndOutput: true
        default: false
        }
    }

    private var flow: Flow? {
        switch state {
        case .open(let flow, _), .draining(let flow): flow
        case .idle, .closing, .closed: nil
        }
    }

    private mutating func setFlow(_ change: (Flow) -> Flow) {
        switch state {
        case .open(let flow, let readHeld): state = .open(flow: change(flow), readHeld: readHeld)
        case .draining(let flow): state = .draining(flow: change(flow))
        case .idle, .closing, .closed: break
        }
    }

    mutating func activated() {
        guard state == .idle else { return }
        state = .open(flow: .running, readHeld: false)
    }

    mutating func received() -> Input {
        switch state {
        case .open(.running, _): .run
        case .open: .keep
        case .idle, .draining, .closing, .closed: .drop
        }
    }

    /// The channel asks to read more: `true` to pass the read on now, `false` if it is held
    /// (or not wanted at all, once the input has ended or the connection is closing).
    mutating func readRequested() -> Bool {
        switch state {
        case .open(.running, _), .open(.blockedOnKeys, _), .idle:
            return true
        case .open(let flow, _):
            state = .open(flow: flow, readHeld: true)
            return false
        case .draining, .closing, .closed:
            return false
        }
    }

    /// After commands ran: `true` if a held read must be passed on now (commands may run again).
    mutating func takeHeldRead() -> Bool {
        guard case .open(.running, true) = state else { return false }
        state = .open(flow: .running, readHeld: false)
        return true
    }

    /// A command waits: the commands after it do too.
    mutating func commandWaits() {
        setFlow { flow in
            switch flow {
            case .running: .waitingForCommand
            case .waitingForOutput: .waitingForCommandAndOutput
            case .waitingForCommand, .waitingForCommandAndOutput, .blockedOnKeys: flow
            }
        }
    }

    /// A blocking command waits for a key: the commands after it wait, reads go on.
    mutating func commandBlocks() {
        setFlow { flow in
            switch flow {
            case .running: .blockedOnKeys
            case .waitingForOutput: .waitingForCommandAndOutput
            case .waitingForCommand, .waitingForCommandAndOutput, .blockedOnKeys: flow
            }
        }
    }

    /// The waiting command may run again: the handler reruns it (one command, even when the
    /// output filled meanwhile), then the commands after it if ``mayRun``.
    mutating func commandResumed() {
        setFlow { flow in
            switch flow {
            case .waitingForCommand, .blockedOnKeys: .running
            case .waitingForCommandAndOutput: .waitingForOutput
            case .running, .waitingForOutput: flow
            }
        }
    }

    /// The unsent output passed its limit: no more commands until it drains.
    mutating func outputFull() {
        setFlow { flow in
            switch flow {
            case .running: .waitingForOutput
            case .waitingForCommand, .blockedOnKeys: .waitingForCommandAndOutput
            case .waitingForOutput, .waitingForCommandAndOutput: flow
            }
        }
    }

    /// The output drained below its low mark. `true`: commands may run again now.
    mutating func outputDrained() -> Bool {
        guard waitsForOutput else { return false }
        setFlow { flow in flow == .waitingForOutput ? .running : .waitingForCommand }
        return mayRun
    }

    /// The client closed its end of the connection. A client blocked on keys is closed at once,
    /// as Redis frees it: nothing may be popped for a client that has gone.
    mutating func inputEnded() {
        guard case .open(let flow, _) = state else { return }
        state = flow == .blockedOnKeys ? .closing : .draining(flow: flow)
    }

    /// After commands ran: while draining, once no input is left and nothing waits, the
    /// connection closes. `true` if it now does.
    mutating func drained(inputLeft: Bool) -> Bool {
        guard case .draining(.running) = state, !inputLeft else { return false }
        state = .closing
        return true
    }

    /// No more commands; close once the replies so far are written.
    mutating func close() {
        guard state != .closed else { return }
        state = .closing
    }

    mutating func inactive() {
        state = .closed
    }
}
