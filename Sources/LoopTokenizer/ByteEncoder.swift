/// GPT-2's reversible map from bytes to printable Unicode characters, so every byte
/// sequence has a text form in the vocabulary: printable Latin-1 bytes map to themselves,
/// the other 68 bytes to U+0100 onwards, in byte order.
public enum ByteEncoder {
    /// Character of each byte (256 entries, dense).
    public static let characters: [Character] = {
        let printable = Array(UInt8(ascii: "!")...UInt8(ascii: "~")) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var scalars = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if printable.contains(UInt8(byte)) {
                scalars[byte] = UInt32(byte)
            } else {
                scalars[byte] = next
                next += 1
            }
        }
        return scalars.map { Character(Unicode.Scalar($0)!) }
    }()

    /// Byte of each character of `characters`.
    public static let bytes: [Character: UInt8] = {
        var map: [Character: UInt8] = [:]
        for (byte, character) in characters.enumerated() { map[character] = UInt8(byte) }
        return map
    }()
}
