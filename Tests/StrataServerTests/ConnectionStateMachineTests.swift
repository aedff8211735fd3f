import Testing
@testable import StrataServer

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
    func opened() -> ConnectionStateMachine {
        var machine = ConnectionStateMachine()
        machine.activated()
        return machine
    }

    @Test("while commands run, input runs at once and reads pass")
    func running() {
        var machine = opened()
        #expect(machine.mayRun)
        let r1 = machine.received()
        #expect(r1 == .run)
        let r2 = machine.readRequested()
        #expect(r2)
        let r3 = machine.takeHeldRead()
        #expect(!r3)
    }

    @Test("a waiting command holds later input and the next read until it resumes")
    func waitingCommand() {
        var machine = opened()
        machine.commandWaits()
        #expect(!machine.mayRun)
        let r4 = machine.received()
        #expect(r4 == .keep)
        let r5 = machine.readRequested()
        #expect(!r5)
        let r6 = machine.takeHeldRead()
        #expect(!r6)
        machine.commandResumed()
        #expect(machine.mayRun)
        let r7 = machine.takeHeldRead()
        #expect(r7)
        let r8 = machine.takeHeldRead()
        #expect(!r8, "a held read is passed on once")
    }

    @Test("a command blocked on keys keeps input unrun but lets reads pass, so a disconnect is seen")
    func blockedOnKeys() {
        var machine = opened()
        machine.commandBlocks()
        #expect(!machine.mayRun)
        let kept = machine.received()
        #expect(kept == .keep)
        let read = machine.readRequested()
        #expect(read, "reads go on while blocked")
        machine.commandResumed()
        #expect(machine.mayRun)
    }

    @Test("the client's end closing while it is blocked on keys closes the connection at once")
    func blockedClientHalfCloses() {
        var machine = opened()
        machine.commandBlocks()
        machine.inputEnded()
        #expect(machine.isClosing)
        var waiting = opened()
        waiting.commandWaits()
        waiting.inputEnded()
        #expect(waiting.isDraining && !waiting.isClosing, "a command waiting for L3 still finishes")
    }

    @Test("a full output while blocked holds reads until both the key and the output allow")
    func blockedThenFull() {
        var machine = opened()
        machine.commandBlocks()
        machine.outputFull()
        let read = machine.readRequested()
        #expect(!read)
        machine.commandResumed()
        #expect(!machine.mayRun && machine.waitsForOutput)
        let drained = machine.outputDrained()
        #expect(drained && machine.mayRun)
    }

    @Test("a full output stops commands until it drains; then the held read passes")
    func fullOutput() {
        var machine = opened()
        machine.outputFull()
        #expect(!machine.mayRun && machine.waitsForOutput)
        let r9 = machine.readRequested()
        #expect(!r9)
        let r10 = machine.outputDrained()
        #expect(r10)
        #expect(machine.mayRun && !machine.waitsForOutput)
        let r11 = machine.takeHeldRead()
        #expect(r11)
    }

    @Test("both at once: commands run only when the command resumed and the output drained",
          arguments: [true, false])
    func both(resumeFirst: Bool) {
        var machine = opened()
        machine.commandWaits()
        machine.outputFull()
        let r12 = machine.readRequested()
        #expect(!r12)
        if resumeFirst {
            machine.commandResumed()
            #expect(!machine.mayRun)
            let r13 = machine.outputDrained()
            #expect(r13)
        } else {
            let r14 = machine.outputDrained()
            #expect(!r14)
            #expect(!machine.mayRun)
            machine.commandResumed()
        }
        #expect(machine.mayRun)
        let r15 = machine.takeHeldRead()
        #expect(r15)
    }

    @Test("a drained output with nothing waiting for it changes nothing")
    func drainedWhileRunning() {
        var machine = opened()
        let r16 = machine.outputDrained()
        #expect(!r16)
        #expect(machine.mayRun)
    }

    @Test("closing drops input and wants no reads; closed stays closed")
    func closing() {
        var machine = opened()
        machine.close()
        #expect(machine.isClosing && !machine.mayRun)
        let r17 = machine.received()
        #expect(r17 == .drop)
        let r18 = machine.readRequested()
        #expect(!r18)
        machine.inactive()
        machine.close()
        #expect(machine.state == .closed)
    }

    @Test("after a half-close, the input already received runs, then the connection closes")
    func halfClose() {
        var machine = opened()
        machine.outputFull()
        machine.inputEnded()
        let r19 = machine.readRequested()
        #expect(!r19)
        let r20 = machine.drained(inputLeft: true)
        #expect(!r20)
        let r21 = machine.outputDrained()
        #expect(r21)
        #expect(machine.mayRun)
        let r22 = machine.drained(inputLeft: true)
        #expect(!r22, "input is left: keep running")
        let r23 = machine.drained(inputLeft: false)
        #expect(r23)
        #expect(machine.isClosing)
    }
}
