import NIOConcurrencyHelpers

/// `NIOLockedValueBox` behind a get/set interface.
struct NIOLockedValueBoxWrapper<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>
    init(_ value: Value) { box = NIOLockedValueBox(value) }
    func get() -> Value { box.withLockedValue { $0 } }
    func set(_ value: Value) { box.withLockedValue { $0 = value } }
}
