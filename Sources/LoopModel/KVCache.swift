import LoopKernels

/// Keys and values of every block application for the positions seen so far, for `slots`
/// sequences at once, so each new token costs one position's work instead of the whole
/// window's. Looped blocks get an entry per pass, as their inputs differ.
///
/// Memory: 2 · applications · slots · T · C floats (`KVCache.bytes`).
public final class KVCache {
    public let capacity: Int  // T: the model's context
    public let slots: Int  // sequences held at once
    public let layout: LoopLayout  // the loop count the cache was made for
    let channels: Int
    let keys: [FloatBuffer]  // [application] (slots, T, C)
    let values: [FloatBuffer]  // [application] (slots, T, C)
    /// Positions filled in each slot.
    public internal(set) var lengths: [Int]

    public init(config: ModelConfiguration, loops: Int? = nil, slots: Int = 1) throws(MemoryError) {
        capacity = config.contextLength
        self.slots = slots
        channels = config.channels
        layout = config.layout.with(loops: loops ?? config.layout.loops)
        let size = slots * config.contextLength * config.channels
        var keys: [FloatBuffer] = [], values: [FloatBuffer] = []
        let hugePages = Self.usesHugePages(slots: slots)
        for _ in 0..<layout.effectiveDepth {
            keys.append(try FloatBuffer(count: size, hugePages: hugePages))
            values.append(try FloatBuffer(count: size, hugePages: hugePages))
        }
        self.keys = keys
        self.values = values
        lengths = Array(repeating: 0, count: slots)
    }

    /// Whether the buffers ask for huge pages: only for one sequence. Every token reads the whole
    /// cache, and on small pages that walk misses the TLB at every 4 KB (GPT-2 124M, one thread,
    /// 12 layers × 640 positions: 15–21 GB/s on small pages, 27–29 on huge ones, as fast as a
    /// plain streaming read). But a huge page is backed whole at its first touch, so each slot's
    /// first token holds 2 MB of every layer's keys and values: for one sequence that is at most
    /// the cache's own size, for a server's many slots of short requests far more than they use.
    static func usesHugePages(slots: Int) -> Bool { slots == 1 }

    /// Bytes a cache of this shape holds.
    public static func bytes(config: ModelConfiguration, loops: Int? = nil, slots: Int = 1) -> Int {
        let depth = config.layout.with(loops: loops ?? config.layout.loops).effectiveDepth
        return 2 * depth * slots * config.contextLength * config.channels * MemoryLayout<Float>.stride
    }

    /// Positions filled in slot 0 (single-sequence use).
    public var length: Int { lengths[0] }

    /// Empties one slot, or all of them.
    public func reset(slot: Int? = nil) {
        if let slot { lengths[slot] = 0 } else { lengths = Array(repeating: 0, count: slots) }
    }

    func layer(_ application: Int) -> CacheLayer {
        CacheLayer(keys: keys[application].pointer, values: values[application].pointer, capacity: capacity)
    }
}
