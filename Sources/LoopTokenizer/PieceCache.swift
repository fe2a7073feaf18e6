/// Pieces already merged during one `encode` call, and their ids: an open-addressing hash
/// table over the piece's bytes, its keys and values kept in two flat arrays (no allocation
/// per piece, as a dictionary keyed by byte arrays would need).
struct PieceCache {
    private struct Slot {
        var hash: UInt64 = 0
        var byteStart: Int32 = -1  // −1: empty
        var byteCount: Int32 = 0
        var idStart: Int32 = 0
        var idCount: Int32 = 0
    }

    private var slots = [Slot](repeating: Slot(), count: 1 << 12)
    private var bytes: [UInt8] = []
    private var ids: [Int] = []
    private(set) var count = 0
    /// Stops adding past this many pieces (memory stays bounded on huge, varied inputs).
    let limit: Int

    init(limit: Int) { self.limit = limit }

    @inline(__always)
    static func hash(_ piece: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in piece { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    /// Appends the cached ids of `piece` to `output` and returns true, or returns false.
    @inline(__always)
    func append(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, to output: inout [Int]) -> Bool {
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: hash) & mask
        while slots[index].byteStart >= 0 {
            let slot = slots[index]
            if slot.hash == hash && Int(slot.byteCount) == piece.count && equal(slot, piece) {
                output.append(contentsOf: ids[Int(slot.idStart)..<Int(slot.idStart + slot.idCount)])
                return true
            }
            index = (index + 1) & mask
        }
        return false
    }

    @inline(__always)
    private func equal(_ slot: Slot, _ piece: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { stored in
            for i in 0..<piece.count where stored[Int(slot.byteStart) + i] != piece[i] { return false }
            return true
        }
    }

    mutating func insert(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, ids pieceIDs: ArraySlice<Int>) {
        guard count < limit else { return }
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: hash) & mask
        while slots[index].byteStart >= 0 { index = (index + 1) & mask }
        slots[index] = Slot(hash: hash, byteStart: Int32(bytes.count), byteCount: Int32(piece.count),
                            idStart: Int32(ids.count), idCount: Int32(pieceIDs.count))
        bytes.append(contentsOf: piece)
        ids.append(contentsOf: pieceIDs)
        count += 1
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        for slot in old where slot.byteStart >= 0 {
            var index = Int(truncatingIfNeeded: slot.hash) & mask
            while slots[index].byteStart >= 0 { index = (index + 1) & mask }
            slots[index] = slot
        }
    }
}
