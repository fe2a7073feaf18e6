import ArgumentParser
import LoopModel

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Describe a preset: layout, parameters, cost.")
    @Argument(help: "Preset name.")
    var preset: String

    func run() throws {
        let config = try Preset.named(preset).configuration()
        let table = ParameterTable(config)
        print("\(preset): \(config.layout.summary), params \(table.parameterCount), without wpe \(table.parameterCountWithoutPositions)")
    }
}
