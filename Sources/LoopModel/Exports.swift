/// `import LoopModel` is enough to load, run and generate: the kernels' public types that its
/// API takes and returns (`Workers`, `FloatBuffer`, `MemoryError`, `SGEMMKernel`) come with it.
@_exported import LoopKernels
