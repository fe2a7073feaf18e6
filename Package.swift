// swift-tools-version: 6.1
// LoopLM: GPT-2 with looped transformer blocks (Ng & Wang, arXiv 2409.14199), trained on the CPU.
//
// Dependencies point one way:
//   CBLAS, CKernels ← LoopKernels ← LoopModel ← LoopCheckpoint ← LoopTraining ← LoopMPI ← looplm
//   LoopTokenizer stands alone.
//   LoopModel, LoopTokenizer, SwiftNIO ← LoopServing (the OpenAI-compatible server) ← looplm
// The MPI trait (`swift build --traits MPI`, needs Open MPI) adds data-parallel training over
// MPI; without it LoopMPI offers one process only, and nothing needs MPI to build or test.
import PackageDescription

#if os(Linux)
let blasDependency: [Target.Dependency] = ["CBLAS"]
let blasTargets: [Target] = [
    .systemLibrary(
        name: "CBLAS",
        pkgConfig: "openblas",
        providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
    ),
]
#else
let blasDependency: [Target.Dependency] = []  // Accelerate on Apple platforms
let blasTargets: [Target] = []
#endif

/// Every file imports each module it uses (no member leaks in through another file's import).
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "LoopLM",
    platforms: [.macOS(.v15)],  // Synchronization's Mutex and Atomic
    products: [
        .executable(name: "looplm", targets: ["looplm"]),
        .library(name: "LoopModel", targets: ["LoopModel"]),
        .library(name: "LoopTraining", targets: ["LoopTraining"]),
        .library(name: "LoopTokenizer", targets: ["LoopTokenizer"]),
        .library(name: "LoopCheckpoint", targets: ["LoopCheckpoint"]),
        .library(name: "LoopLM", targets: ["LoopLM"]),
        .library(name: "LoopServing", targets: ["LoopServing"]),
    ],
    traits: [
        .trait(name: "MPI", description: "Data-parallel training over MPI (Open MPI: libopenmpi-dev, or Homebrew's open-mpi)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: blasTargets + [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        .target(name: "LoopMPI", dependencies: ["LoopTraining", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
                swiftSettings: strictImports),
        .target(name: "CKernels"),
        .target(name: "LoopKernels", dependencies: blasDependency + ["CKernels"], swiftSettings: strictImports),
        .target(name: "LoopModel", dependencies: ["LoopKernels"], swiftSettings: strictImports),
        .target(name: "LoopCheckpoint", dependencies: ["LoopModel", "LoopKernels"], swiftSettings: strictImports),
        .target(name: "LoopTokenizer", swiftSettings: strictImports),
        .target(name: "LoopTraining", dependencies: ["LoopKernels", "LoopModel", "LoopCheckpoint", "LoopTokenizer"],
                swiftSettings: strictImports),
        .target(
            name: "LoopServing",
            dependencies: [
                "LoopKernels", "LoopModel", "LoopTokenizer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictImports
        ),
        .target(name: "LoopLM", dependencies: ["LoopModel", "LoopCheckpoint", "LoopTokenizer", "LoopTraining"],
                swiftSettings: strictImports),
        .executableTarget(
            name: "looplm",
            dependencies: [
                "LoopKernels", "LoopTraining", "LoopModel", "LoopCheckpoint", "LoopTokenizer", "LoopMPI", "LoopServing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictImports
        ),
        .testTarget(name: "LoopKernelsTests", dependencies: ["LoopKernels", "CKernels"]),
        .testTarget(
            name: "LoopModelTests",
            dependencies: ["LoopModel", "LoopCheckpoint", "LoopTraining"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "LoopCheckpointTests", dependencies: ["LoopCheckpoint", "LoopModel"], exclude: ["Fixtures"]),
        .testTarget(name: "LoopTrainingTests", dependencies: ["LoopTraining"]),
        .testTarget(name: "LoopServingTests", dependencies: ["LoopServing", "LoopModel", "LoopTokenizer"]),
        .testTarget(name: "LoopTokenizerTests", dependencies: ["LoopTokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "looplmTests", dependencies: ["LoopCheckpoint", "LoopModel", "LoopKernels"]),
    ],
    swiftLanguageModes: [.v6]
)
