import LoopKernels

/// Keys and values of every block application for the positions seen so far, for `slots`
/// sequences at once, so each new token costs one position's work instead of the whole
/// window's. Looped blocks get an entry per pass, as their inputs differ.
///
/// Memory: 2 · applications · slots · T · C floats (`KVCache.bytes`), in one mapping: every
/// application's keys, then its values, each (slots, T, C).
public final class KVCache {
    public let capacity: Int  // T: the model's context
    public let slots: Int  // sequences held at once
    public let layout: LoopLayout  // the loop count the cache was made for
    let channels: Int
    /// (applications, 2, slots, T, C): keys then values of each application.
    let storage: FloatBuffer
    /// Floats of one application's keys (or values): slots · T · C.
    let bufferCount: Int
    /// Positions filled in each slot.
    public internal(set) var lengths: [Int]

    public init(config: ModelConfiguration, loops: Int? = nil, slots: Int = 1) throws(MemoryError) {
        capacity = config.contextLength
        self.slots = slots
        channels = config.channels
        layout = config.layout.with(loops: loops ?? config.layout.loops)
        guard let count = Self.floats(config: config, loops: loops, slots: slots) else {
            throw MemoryError(needed: nil, available: SystemMemory.availableBytes(), what: "a key/value cache of \(slots) slots",
                              advice: "use fewer slots or loops")
        }
        bufferCount = slots * config.contextLength * config.channels  // a factor of `count`: no overflow
        storage = try FloatBuffer(count: count, hugePages: Self.usesHugePages(slots: slots))
        lengths = Array(repeating: 0, count: slots)
    }

    /// Whether the cache asks for huge pages: only for one sequence. Every token reads the whole
    /// cache, and on small pages that walk misses the TLB at every 4 KB (GPT-2 124M, one thread,
    /// 12 layers × 640 positions: 15–21 GB/s on small pages, 27–29 on huge ones, as fast as a
    /// plain streaming read). But a huge page is backed whole at its first touch, so each slot's
    /// first token holds 2 MB of every layer's keys and values: for one sequence that is at most
    /// the cache's own size, for a server's many slots of short requests far more than they use.
    /// The cache is one mapping so that every application's keys and values lie on whole huge
    /// pages: mapped apart, each 3 MB buffer (GPT-2, T 1,024) had its last megabyte, positions
    /// 683 on, on small pages.
    static func usesHugePages(slots: Int) -> Bool { slots == 1 }

    /// The keys of block application `application`: (slots, T, C).
    func keys(_ application: Int) -> UnsafeMutablePointer<Float> { storage.pointer + 2 * application * bufferCount }

    /// Its values: (slots, T, C).
    func values(_ application: Int) -> UnsafeMutablePointer<Float> { keys(application) + bufferCount }

    /// Floats a cache of this shape holds: 2 · applications · slots · T · C, or nil when that
    /// overflows.
    static func floats(config: ModelConfiguration, loops: Int?, slots: Int) -> Int? {
        let depth = config.layout.with(loops: loops ?? config.layout.loops).effectiveDepth
        return CheckedSize.product(2, depth, slots, config.contextLength, config.channels)
    }

    /// Bytes a cache of this shape holds (Int.max when they cannot be counted).
    public static func bytes(config: ModelConfiguration, loops: Int? = nil, slots: Int = 1) -> Int {
        floats(config: config, loops: loops, slots: slots).flatMap { CheckedSize.product($0, MemoryLayout<Float>.stride) } ?? .max
    }

    /// Positions filled in slot 0 (single-sequence use).
    public var length: Int { lengths[0] }

    /// Empties one slot, or all of them.
    public func reset(slot: Int? = nil) {
        if let slot { lengths[slot] = 0 } else { lengths = Array(repeating: 0, count: slots) }
    }

    func layer(_ application: Int) -> CacheLayer {
        CacheLayer(keys: keys(application), values: values(application), capacity: capacity)
    }
}
