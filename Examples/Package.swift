// swift-tools-version: 6.1
// Two small programs that use LoopLM as a library, as a Swift app would (CI builds them).
//   swift run --package-path Examples generate RUN/latest "ROMEO:"
//   swift run --package-path Examples train DATA_FOLDER
import PackageDescription

let package = Package(
    name: "LoopLMExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "LoopLM", path: "..")],
    targets: [
        .executableTarget(name: "Generate", dependencies: [.product(name: "LoopLM", package: "LoopLM")]),
        .executableTarget(name: "Train", dependencies: [.product(name: "LoopLM", package: "LoopLM")]),
    ],
    swiftLanguageModes: [.v6]
)
