// libtorch's random generator is process-wide and training seeds it per batch, so tests that train run one at a time.
[assembly: DoNotParallelize]
