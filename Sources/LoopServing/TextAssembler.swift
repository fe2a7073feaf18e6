/// The text of one sequence as its tokens arrive: finds stop sequences and hands out only what
/// is safe to send, so that a stream's pieces add up to the text a non-streaming answer holds.
/// Held back: a trailing incomplete UTF-8 character, and a tail that may be the start of a
/// stop sequence.
struct TextAssembler {
    let stops: [[UInt8]]
    private(set) var bytes: [UInt8] = []
    private var sent = 0  // bytes handed out so far
    /// Where a stop sequence begins, once one has appeared (the text ends there).
    private(set) var stoppedAt: Int?

    init(stops: [[UInt8]]) { self.stops = stops }

    /// Adds a token's bytes; returns the text that became safe to send (maybe empty).
    mutating func append(_ new: [UInt8]) -> String {
        guard stoppedAt == nil else { return "" }
        let searchFrom = max(0, bytes.count - (stops.map(\.count).max() ?? 1) + 1)
        bytes += new
        if let stop = firstStop(from: searchFrom) {
            stoppedAt = stop
            return take(upTo: stop)
        }
        var end = bytes.count - heldForStops()
        end = min(end, bytes.count - Self.incompleteTail(bytes))
        return take(upTo: max(end, sent))
    }

    /// The rest, when the sequence ends without a stop sequence.
    mutating func finish() -> String {
        take(upTo: stoppedAt ?? bytes.count)
    }

    /// The whole text (up to a stop sequence).
    var text: String { String(decoding: bytes[..<(stoppedAt ?? bytes.count)], as: UTF8.self) }

    private mutating func take(upTo end: Int) -> String {
        guard end > sent else { return "" }
        defer { sent = end }
        return String(decoding: bytes[sent..<end], as: UTF8.self)
    }

    /// The first place at or after `start` where a stop sequence begins.
    private func firstStop(from start: Int) -> Int? {
        guard !stops.isEmpty, !bytes.isEmpty else { return nil }
        var i = start
        while i < bytes.count {
            for stop in stops where i + stop.count <= bytes.count && bytes[i..<(i + stop.count)].elementsEqual(stop) {
                return i
            }
            i += 1
        }
        return nil
    }

    /// Bytes at the end that begin some stop sequence (they may yet complete it).
    private func heldForStops() -> Int {
        var held = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, bytes.count), to: held, by: -1)
            where bytes[(bytes.count - length)...].elementsEqual(stop[..<length]) {
                held = length
                break
            }
        }
        return held
    }

    /// Bytes at the end that start a UTF-8 character still missing its continuation bytes.
    static func incompleteTail(_ bytes: [UInt8]) -> Int {
        var back = 0
        while back < min(3, bytes.count) {
            let byte = bytes[bytes.count - 1 - back]
            if byte & 0xC0 != 0x80 {  // a lead byte (or ASCII)
                let needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return needed > back + 1 && byte >= 0xC2 && byte <= 0xF4 ? back + 1 : 0
            }
            back += 1
        }
        return 0
    }
}
