namespace RobustEval.IO;

/// <summary>Checks made before long work starts, so a run never ends unable to write what it computed.</summary>
public static class OutputPaths
{
    /// <summary>Creates <paramref name="directory"/> if needed and proves it writable; a one-line error naming <paramref name="option"/> otherwise.</summary>
    public static void EnsureWritableDirectory(string directory, string option)
    {
        try
        {
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{option}: cannot write to {directory} ({e.Message})");
        }
    }
}
