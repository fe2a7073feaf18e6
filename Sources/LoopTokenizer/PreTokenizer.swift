/// GPT-2's pre-tokenization, written out by hand instead of through a regex engine:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// tried in that order at each position. Works on UTF-8 bytes and returns byte ranges.
/// `\s` is Unicode White_Space, `\p{L}` letters, `\p{N}` numbers (as tiktoken's gpt2).
public enum PreTokenizer {
    enum Kind: UInt8 { case letter, number, space, other }

    /// Classes of the ASCII bytes; other scalars are looked up in Unicode's tables.
    static let asciiKinds: [Kind] = (0..<128).map { byte in
        let scalar = Unicode.Scalar(UInt8(byte))
        if scalar.properties.isWhitespace { return .space }
        if (65...90).contains(byte) || (97...122).contains(byte) { return .letter }
        if (48...57).contains(byte) { return .number }
        return .other
    }

    @inline(__always)
    static func kind(of scalar: Unicode.Scalar) -> Kind {
        if scalar.value < 128 { return asciiKinds[Int(scalar.value)] }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return properties.isWhitespace ? .space : .other
        }
    }

    /// The pieces of `text` (valid UTF-8) as byte ranges, in order, covering it exactly.
    public static func split(_ text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        // Decode once into scalar start offsets and classes.
        var starts: [Int] = []
        var kinds: [Kind] = []
        starts.reserveCapacity(text.count + 1)
        kinds.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let lead = text[offset]
            if lead < 0x80 {  // ASCII, most of English: one byte, class from the table
                starts.append(offset)
                kinds.append(asciiKinds[Int(lead)])
                offset += 1
                continue
            }
            var iterator = UnsafeBufferPointer(rebasing: text[offset...]).makeIterator()
            var decoder = UTF8()
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                starts.append(offset)
                kinds.append(kind(of: scalar))
                offset += UTF8.width(scalar)
            case .emptyInput, .error:
                // Not reached for valid UTF-8; a stray byte is its own "other" scalar.
                starts.append(offset)
                kinds.append(.other)
                offset += 1
            }
        }
        starts.append(text.count)
        let n = kinds.count
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(n / 3)
        var i = 0
        @inline(__always) func byte(_ scalarIndex: Int) -> UInt8 { text[starts[scalarIndex]] }
        @inline(__always) func run(from j: Int, of k: Kind) -> Int {
            var end = j
            while end < n && kinds[end] == k { end += 1 }
            return end
        }
        @inline(__always) func runOfOther(from j: Int) -> Int {
            var end = j
            while end < n && kinds[end] == .other { end += 1 }
            return end
        }
        while i < n {
            var end: Int
            if let contraction = contractionLength(at: i, n: n, byte: byte) {
                end = i + contraction
            } else {
                let startsWithSpace = byte(i) == 0x20 && starts[i + 1] - starts[i] == 1
                let first = startsWithSpace && i + 1 < n ? i + 1 : i
                let k = kinds[first]
                if first != i || k != .space {
                    if k == .space {
                        end = -1  // a lone space before whitespace: handled below
                    } else {
                        end = run(from: first, of: k)
                    }
                } else {
                    end = -1
                }
                if end == -1 {
                    // \s+(?!\S) then \s+
                    let spaceEnd = run(from: i, of: .space)
                    if spaceEnd == n || spaceEnd - i == 1 {
                        end = spaceEnd
                    } else {
                        end = spaceEnd - 1
                    }
                }
            }
            pieces.append(starts[i]..<starts[end])
            i = end
        }
        return pieces
    }

    /// Length in scalars of a contraction ('s 't 're 've 'm 'll 'd) at scalar `i`, if any.
    @inline(__always)
    static func contractionLength(at i: Int, n: Int, byte: (Int) -> UInt8) -> Int? {
        guard byte(i) == UInt8(ascii: "'"), i + 1 < n else { return nil }
        switch byte(i + 1) {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return i + 2 < n && byte(i + 2) == UInt8(ascii: "e") ? 3 : nil
        case UInt8(ascii: "l"):
            return i + 2 < n && byte(i + 2) == UInt8(ascii: "l") ? 3 : nil
        default: return nil
        }
    }
}
