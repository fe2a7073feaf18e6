/// `import LoopLM` brings the whole library: the model and its generation (LoopModel, with the
/// kernels' types), checkpoints (LoopCheckpoint), tokenizers (LoopTokenizer) and training and
/// experiments (LoopTraining). Each module can also be imported on its own.
@_exported import LoopCheckpoint
@_exported import LoopModel
@_exported import LoopTokenizer
@_exported import LoopTraining
