import Foundation
import Testing

/// docs/commands.md against the binary: each command's row names every flag its `--help`
/// lists, and names no flag the command does not have.
@Suite struct CommandDocsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The flags named in each command's rows of the table (`bench` has two rows).
    static func documentedFlags() throws -> [String: Set<String>] {
        let text = try String(contentsOf: repository.appendingPathComponent("docs/commands.md"), encoding: .utf8)
        var flags: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `looplm ") {
            let firstCell = String(line.dropFirst(2)).components(separatedBy: "` | ")[0]
            let words = firstCell.dropFirst("`looplm ".count).split(separator: " ")
            guard let command = words.first, !command.hasPrefix("--") else { continue }
            flags[String(command), default: []].formUnion(Self.flags(in: firstCell))
        }
        return flags
    }

    /// Every `--name` in a text (`--roofline\|--no-roofline` gives both).
    static func flags(in text: String) -> Set<String> {
        var found: Set<String> = []
        var rest = Substring(text)
        while let start = rest.range(of: "--") {
            let name = rest[start.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if !name.isEmpty { found.insert("--" + name) }
            rest = rest[start.upperBound...].dropFirst(name.count)
        }
        return found
    }

    /// The flags a command's `--help` lists in its OPTIONS section.
    static func helpFlags(_ command: String) throws -> Set<String> {
        let help = try Looplm.spawn([Looplm.binary, command, "--help"]).stdout
        guard let options = help.range(of: "OPTIONS:") else { return [] }
        var flags: Set<String> = []
        for line in help[options.upperBound...].split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard line.hasPrefix("  -"), trimmed.hasPrefix("-") else { continue }
            let head = trimmed.prefix { $0 != " " && $0 != "<" }
            flags.formUnion(Self.flags(in: String(head)))
        }
        return flags.subtracting(["--help", "--version"])
    }

    /// Every subcommand `looplm --help` lists, so that a new command cannot go undocumented.
    static func subcommands() throws -> [String] {
        let help = try Looplm.spawn([Looplm.binary, "--help"]).stdout
        guard let list = help.range(of: "SUBCOMMANDS:") else { return [] }
        return help[list.upperBound...].split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let first = line.split(separator: " ").first else { return nil }
            return first.allSatisfy({ $0.isLowercase || $0 == "-" }) ? String(first) : nil
        }
    }

    @Test func theTableMatchesHelp() throws {
        let documented = try Self.documentedFlags()
        let commands = try Self.subcommands()
        #expect(Set(commands).isSuperset(of: ["prepare", "train", "eval", "sample", "serve", "bench", "experiment"]), "\(commands)")
        #expect(Set(documented.keys).isSuperset(of: commands), "rows: \(documented.keys.sorted())")
        for command in commands {
            let help = try Self.helpFlags(command), named = documented[command] ?? []
            #expect(!help.isEmpty, "\(command) --help lists no options")
            #expect(help.subtracting(named).isEmpty, "\(command): in --help, not in docs/commands.md: \(help.subtracting(named).sorted())")
            #expect(named.subtracting(help).isEmpty, "\(command): in docs/commands.md, not in --help: \(named.subtracting(help).sorted())")
        }
    }
}
