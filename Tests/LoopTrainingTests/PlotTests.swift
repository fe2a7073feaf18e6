import LoopTraining
import Testing

@Suite struct PlotTests {
    /// Several seeds draw a band of ±1 standard deviation behind the mean line; one seed none.
    @Test func seedsSpreadIsABandAroundTheMean() {
        let seeds: [[Double]] = [[1.0, 0.8, 0.6], [1.2, 0.9, 0.6]]
        let band = LinePlot(title: "t", xLabel: "x", yLabel: "y",
                            series: [.init(name: "two seeds", x: [1, 2, 3], seeds: seeds)]).svg()
        #expect(band.contains("<polygon") && band.contains("fill-opacity"))
        let single = LinePlot(title: "t", xLabel: "x", yLabel: "y",
                              series: [.init(name: "one seed", x: [1, 2, 3], seeds: [seeds[0]])]).svg()
        #expect(!single.contains("<polygon"))
        let series = LinePlot.Series(name: "s", x: [1, 2, 3], seeds: seeds)
        #expect(abs(series.points[0].y - 1.1) < 1e-12 && abs((series.spread?[0] ?? 0) - 0.1414213562) < 1e-9)
    }

    /// A tick at zero reached by adding steps from a negative start is labelled 0, not -0.
    @Test func theZeroTickIsNotNegative() {
        let svg = LinePlot(title: "t", xLabel: "x", yLabel: "y",
                           series: [.init(name: "s", points: [(x: -0.3, y: -0.3), (x: 0.7, y: 0.7)])]).svg()
        #expect(!svg.contains(">-0.0<") && !svg.contains(">-0<") && svg.contains(">0.0<"))
    }
}
