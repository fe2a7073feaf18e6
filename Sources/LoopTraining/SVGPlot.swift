import Foundation

/// A line plot written as a standalone SVG file (no dependencies; opens in any browser).
public struct LinePlot {
    public struct Series {
        public let name: String
        public let points: [(x: Double, y: Double)]
        /// The seeds' standard deviation at each point, drawn as a band of ±1 around the line
        /// (nil, or all zero: a single seed, no band).
        public let spread: [Double]?
        public init(name: String, points: [(x: Double, y: Double)], spread: [Double]? = nil) {
            self.name = name
            self.points = points
            self.spread = spread
        }

        /// Points (x, mean over seeds) with the seeds' spread, from each seed's value at each x.
        public init(name: String, x: [Double], seeds: [[Double]]) {
            let folded = x.indices.map { i in meanAndSpread(seeds.map { $0[i] }) }
            self.init(name: name, points: zip(x, folded).map { (x: $0, y: $1.mean) }, spread: folded.map(\.spread))
        }

        /// The band's edges, where there is one.
        var bandValues: [Double] {
            guard let spread else { return [] }
            return zip(points, spread).flatMap { [$0.y - $1, $0.y + $1] }
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logarithmicX = false
    public var markers = false

    static let width = 800.0, height = 460.0
    static let left = 70.0, right = 240.0, top = 40.0, bottom = 55.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logarithmicX: Bool = false,
                markers: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logarithmicX = logarithmicX
        self.markers = markers
    }

    public func svg() -> String {
        let all = series.flatMap { s in s.points + s.bandValues.map { (x: s.points.first?.x ?? 0, y: $0) } }
            .filter { $0.y.isFinite && (!logarithmicX || $0.x > 0) }
        let plotWidth = Self.width - Self.left - Self.right, plotHeight = Self.height - Self.top - Self.bottom
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(Self.height))" \
            font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.left)" y="22" font-size="15" font-weight="bold">\(escape(title))</text>

            """
        guard let minX = all.map(\.x).min(), let maxX = all.map(\.x).max(),
            let minY = all.map(\.y).min(), let maxY = all.map(\.y).max()
        else { return out + "<text x=\"\(Self.left)\" y=\"80\">no data</text>\n</svg>\n" }
        let fx = { (x: Double) in logarithmicX ? log10(x) : x }
        let (x0, x1) = fx(minX) == fx(maxX) ? (fx(minX) - 1, fx(maxX) + 1) : (fx(minX), fx(maxX))
        let pad = (maxY - minY) * 0.05 + 1e-9
        let (y0, y1) = (minY - pad, maxY + pad)
        func px(_ x: Double) -> Double { Self.left + (fx(x) - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { Self.top + (1 - (y - y0) / (y1 - y0)) * plotHeight }
        // Axes, grid and ticks.
        out += "<rect x=\"\(Self.left)\" y=\"\(Self.top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        let yTicks = Self.ticks(y0, y1)
        for tick in yTicks {
            let y = py(tick)
            out += "<line x1=\"\(Self.left)\" x2=\"\(Self.left + plotWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(Self.left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.format(tick, step: Self.spacing(yTicks)))</text>\n"
        }
        let xTicks = logarithmicX ? Self.logarithmicTicks(pow(10, x0), pow(10, x1)) : Self.ticks(x0, x1)
        for tick in xTicks {
            let x = px(tick)
            let label = logarithmicX ? String(format: "%.0e", tick) : Self.format(tick, step: Self.spacing(xTicks))
            out += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(Self.top)\" y2=\"\(Self.top + plotHeight)\" stroke=\"#eee\"/>"
            out += "<text x=\"\(x)\" y=\"\(Self.top + plotHeight + 16)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        out += "<text x=\"\(Self.left + plotWidth / 2)\" y=\"\(Self.height - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(18,\(Self.top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        // Series and legend.
        for (index, s) in series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let points = s.points.filter { $0.y.isFinite && (!logarithmicX || $0.x > 0) }
            let path = points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            if let spread = s.spread, spread.count == s.points.count, spread.contains(where: { $0 > 0 }) {
                let kept = zip(s.points, spread).filter { $0.0.y.isFinite && $0.1.isFinite && (!logarithmicX || $0.0.x > 0) }
                let upper = kept.map { String(format: "%.1f,%.1f", px($0.0.x), py($0.0.y + $0.1)) }
                let lower = kept.reversed().map { String(format: "%.1f,%.1f", px($0.0.x), py($0.0.y - $0.1)) }
                out += "<polygon fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
            }
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            if markers || points.count == 1 {
                for p in points {
                    out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%@\"/>", px(p.x), py(p.y), color)
                }
                out += "\n"
            }
            let ly = Self.top + 10 + Double(index) * 18
            out += "<line x1=\"\(Self.width - Self.right + 12)\" x2=\"\(Self.width - Self.right + 32)\" y1=\"\(ly)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            out += "<text x=\"\(Self.width - Self.right + 38)\" y=\"\(ly + 4)\">\(escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// About five round tick values covering [low, high].
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        let raw = (high - low) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var tick = ceil(low / step) * step, result: [Double] = []
        while tick <= high + step * 1e-9 {
            result.append(tick)
            tick += step
        }
        return result
    }

    /// 1, 2 and 5 times powers of ten inside [low, high] (only powers of ten when that is plenty).
    static func logarithmicTicks(_ low: Double, _ high: Double) -> [Double] {
        var all: [Double] = [], powers: [Double] = []
        for exponent in Int(floor(log10(low)))...Int(ceil(log10(high))) {
            for multiple in [1.0, 2, 5] {
                let value = multiple * pow(10, Double(exponent))
                if value >= low * (1 - 1e-9) && value <= high * (1 + 1e-9) {
                    all.append(value)
                    if multiple == 1 { powers.append(value) }
                }
            }
        }
        return powers.count >= 3 ? powers : all
    }

    static func spacing(_ ticks: [Double]) -> Double { ticks.count > 1 ? ticks[1] - ticks[0] : 1 }

    /// As many decimals as the tick spacing needs.
    static func format(_ value: Double, step: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        let rounded = abs(value) < step * 1e-6 ? 0 : value  // a tick at zero reached by adding steps is not "-0"
        return String(format: "%.\(decimals)f", rounded)
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
