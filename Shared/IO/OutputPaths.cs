namespace RobustEval.IO;

/// <summary>
/// Checks made before long work starts, so a run never ends unable to write what it computed — and made without
/// creating anything, so a run that fails or is interrupted before writing leaves no empty folder behind.
/// </summary>
public static class OutputPaths
{
    /// <summary>
    /// Proves <paramref name="directory"/> can be written (or created: its nearest existing ancestor is a writable
    /// folder); a one-line error naming <paramref name="option"/> otherwise. Creates nothing.
    /// </summary>
    public static void EnsureWritableDirectory(string directory, string option) => Check(directory, option, directory);

    private static void Check(string directory, string option, string given)
    {
        string full;
        try
        {
            full = Path.GetFullPath(directory);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UserErrorException($"{option} {given}: not a valid path ({e.Message})");
        }
        var existing = full;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
            {
                throw new UserErrorException(existing == full && given == directory
                    ? $"{option} {given} is a file, not a folder"
                    : $"{option} {given}: {existing} is a file, so no folder can be made under it");
            }
            existing = Path.GetDirectoryName(existing) ?? throw new UserErrorException($"{option} {given}: no existing folder above it");
        }
        try
        {
            var probe = Path.Combine(existing, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{option}: cannot write to {existing} ({e.Message})");
        }
    }

    /// <summary>Proves the file <paramref name="path"/> can be written: not a folder, and its folder writable (see above).</summary>
    public static void EnsureWritableFile(string path, string option)
    {
        if (Directory.Exists(path))
        {
            throw new UserErrorException($"{option} {path} is a folder; give a file name");
        }
        Check(Path.GetDirectoryName(Path.GetFullPath(path))!, option, path);
    }
}
