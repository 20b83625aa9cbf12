using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace RobustEval.IO;

/// <summary>How results files are written: indented, with ℓ∞ and ε as themselves (HTML-sensitive characters stay escaped).</summary>
internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };
}
