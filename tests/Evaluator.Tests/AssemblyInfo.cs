// Tests that use TorchSharp seed its process-wide generator; running classes one at a time keeps them reproducible.
[assembly: Parallelize(Scope = ExecutionScope.ClassLevel, Workers = 2)]
