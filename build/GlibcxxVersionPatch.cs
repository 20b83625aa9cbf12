// Makes TorchSharp's native library load on systems whose libstdc++ is older than the one it was linked
// against (Debian 12: GLIBCXX_3.4.30; libLibTorchSharp.so 0.107 asks for GLIBCXX_3.4.32).
//
// GCC 13 records a requirement for GLIBCXX_3.4.32 only through one undefined symbol,
// std::ios_base_library_init(), which it emits to force linking against its own libstdc++; no relocation
// refers to it, so the dynamic loader never resolves it. What fails is only the loader's file-level check
// that every version named in .gnu.version_r exists. This rewrites such a missing version entry to name
// the newest version of the same family that both the library already requires and the system provides
// (its ELF hash and its .dynstr offset: eight bytes), after checking that the symbols bound to the entry are
// only ones known to need no resolution. Idempotent: a patched library has no missing version left.
//
// The same file is compiled twice: as an MSBuild inline task (patching build and publish outputs) and, with
// ROBUSTEVAL_RUNTIME defined, into the trainer, which repairs an installed copy (e.g. a .NET tool) at start-up.
#nullable disable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

#if ROBUSTEVAL_RUNTIME
namespace RobustEval.Trainer.Native
{
#endif
    public static class GlibcxxVersionPatcher
    {
        private const uint ShtDynsym = 11;
        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const uint ShtGnuVersym = 0x6fffffff;

        // Undefined symbols that GCC 13 adds only to pin the newer libstdc++; nothing calls them.
        private static readonly HashSet<string> HarmlessSymbols = new HashSet<string>(StringComparer.Ordinal)
        {
            "_ZSt21ios_base_library_initv",
        };

        private static readonly string[] LibraryFolders =
        {
            "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib64", "/lib64", "/usr/lib", "/lib",
        };

        /// <summary>The libstdc++.so.6 the loader would use, or null when none is found.</summary>
        public static string FindSystemLibStdCxx()
        {
            var folders = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "")
                .Split(new[] { ':' }, StringSplitOptions.RemoveEmptyEntries)
                .Concat(LibraryFolders);
            return folders.Select(f => Path.Combine(f, "libstdc++.so.6")).FirstOrDefault(File.Exists);
        }

        /// <summary>
        /// Patches <paramref name="library"/> in place (through a temporary file and a rename) if it requires
        /// libstdc++ versions <paramref name="systemLibStdCxx"/> lacks. Returns what was done, in words.
        /// </summary>
        public static string Patch(string library, string systemLibStdCxx)
        {
            var provided = DefinedVersions(File.ReadAllBytes(systemLibStdCxx));
            var bytes = File.ReadAllBytes(library);
            var elf = new Elf(bytes);
            var verneed = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
            if (verneed == null)
            {
                return "no version requirements";
            }
            var strings = elf.Sections[(int)verneed.Link];
            var needs = ReadVerneed(bytes, verneed, strings).Where(n => n.File == "libstdc++.so.6").ToList();
            var missing = needs.Where(n => !provided.Contains(n.Version)).ToList();
            if (missing.Count == 0)
            {
                return "nothing to patch: the system libstdc++ provides every version it needs";
            }
            var bound = SymbolsByVersionIndex(bytes, elf);
            var changes = new List<string>();
            foreach (var need in missing)
            {
                if (bound.TryGetValue(need.Index, out var symbols) && symbols.Any(s => !HarmlessSymbols.Contains(s)))
                {
                    throw new InvalidOperationException(
                        $"{library} needs {need.Version} for {string.Join(", ", symbols)}; refusing to patch (a newer libstdc++ is required)");
                }
                string family = need.Version.Substring(0, need.Version.IndexOf('_') + 1);
                var replacement = needs
                    .Where(n => n.Version.StartsWith(family, StringComparison.Ordinal) && provided.Contains(n.Version))
                    .OrderByDescending(n => n.Version, VersionNameComparer.Instance)
                    .FirstOrDefault();
                if (replacement == null)
                {
                    throw new InvalidOperationException($"{library} needs {need.Version} and requires no older {family}* version to use instead");
                }
                WriteUInt32(bytes, need.AuxOffset, ElfHash(replacement.Version));
                WriteUInt32(bytes, need.AuxOffset + 8, replacement.NameOffset);
                changes.Add($"{need.Version} -> {replacement.Version}");
            }
            // Keep the original time stamp: the build's incremental copy then sees an unchanged file and does
            // not overwrite the patched copy with the original on the next build.
            DateTime stamp = File.GetLastWriteTimeUtc(library);
            string temporary = library + ".patching";
            File.WriteAllBytes(temporary, bytes);
            File.SetLastWriteTimeUtc(temporary, stamp);
            File.Replace(temporary, library, null);
            return "patched " + string.Join(", ", changes);
        }

        /// <summary>True when <paramref name="library"/> requires libstdc++ versions the system one lacks.</summary>
        public static bool NeedsPatch(string library, string systemLibStdCxx)
        {
            var provided = DefinedVersions(File.ReadAllBytes(systemLibStdCxx));
            var bytes = File.ReadAllBytes(library);
            var elf = new Elf(bytes);
            var verneed = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
            return verneed != null && ReadVerneed(bytes, verneed, elf.Sections[(int)verneed.Link])
                .Any(n => n.File == "libstdc++.so.6" && !provided.Contains(n.Version));
        }

        /// <summary>The SysV ELF hash used in version entries.</summary>
        public static uint ElfHash(string name)
        {
            uint h = 0;
            foreach (byte c in Encoding.ASCII.GetBytes(name))
            {
                h = (h << 4) + c;
                uint g = h & 0xf0000000;
                if (g != 0)
                {
                    h ^= g >> 24;
                }
                h &= ~g;
            }
            return h;
        }

        private static HashSet<string> DefinedVersions(byte[] bytes)
        {
            var elf = new Elf(bytes);
            var result = new HashSet<string>(StringComparer.Ordinal);
            var verdef = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVerdef);
            if (verdef == null)
            {
                return result;
            }
            var strings = elf.Sections[(int)verdef.Link];
            long offset = (long)verdef.Offset;
            for (uint i = 0; i < verdef.Info; i++)
            {
                ushort count = ReadUInt16(bytes, offset + 6);
                uint aux = ReadUInt32(bytes, offset + 12);
                uint next = ReadUInt32(bytes, offset + 16);
                if (count > 0)
                {
                    uint name = ReadUInt32(bytes, offset + aux);
                    result.Add(ReadString(bytes, (long)strings.Offset + name));
                }
                if (next == 0)
                {
                    break;
                }
                offset += next;
            }
            return result;
        }

        private sealed class Need
        {
            public string File = "";
            public string Version = "";
            public ushort Index;
            public uint NameOffset;
            public long AuxOffset;
        }

        private static List<Need> ReadVerneed(byte[] bytes, Section verneed, Section strings)
        {
            var result = new List<Need>();
            long offset = (long)verneed.Offset;
            for (uint i = 0; i < verneed.Info; i++)
            {
                ushort count = ReadUInt16(bytes, offset + 2);
                string file = ReadString(bytes, (long)strings.Offset + ReadUInt32(bytes, offset + 4));
                long aux = offset + ReadUInt32(bytes, offset + 8);
                for (int j = 0; j < count; j++)
                {
                    uint name = ReadUInt32(bytes, aux + 8);
                    result.Add(new Need
                    {
                        File = file,
                        Version = ReadString(bytes, (long)strings.Offset + name),
                        Index = (ushort)(ReadUInt16(bytes, aux + 6) & 0x7fff),
                        NameOffset = name,
                        AuxOffset = aux,
                    });
                    uint nextAux = ReadUInt32(bytes, aux + 12);
                    if (nextAux == 0)
                    {
                        break;
                    }
                    aux += nextAux;
                }
                uint next = ReadUInt32(bytes, offset + 12);
                if (next == 0)
                {
                    break;
                }
                offset += next;
            }
            return result;
        }

        private static Dictionary<ushort, List<string>> SymbolsByVersionIndex(byte[] bytes, Elf elf)
        {
            var result = new Dictionary<ushort, List<string>>();
            var dynsym = elf.Sections.FirstOrDefault(s => s.Type == ShtDynsym);
            var versym = elf.Sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
            if (dynsym == null || versym == null)
            {
                return result;
            }
            var strings = elf.Sections[(int)dynsym.Link];
            long count = (long)(dynsym.Size / 24);
            for (long i = 0; i < count; i++)
            {
                ushort index = (ushort)(ReadUInt16(bytes, (long)versym.Offset + 2 * i) & 0x7fff);
                string name = ReadString(bytes, (long)strings.Offset + ReadUInt32(bytes, (long)dynsym.Offset + 24 * i));
                if (!result.TryGetValue(index, out var list))
                {
                    result[index] = list = new List<string>();
                }
                list.Add(name);
            }
            return result;
        }

        private sealed class Section
        {
            public uint Type;
            public ulong Offset;
            public ulong Size;
            public uint Link;
            public uint Info;
        }

        private sealed class Elf
        {
            public readonly List<Section> Sections = new List<Section>();

            public Elf(byte[] bytes)
            {
                if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
                {
                    throw new InvalidDataException("not an ELF file");
                }
                if (bytes[4] != 2 || bytes[5] != 1)
                {
                    throw new InvalidDataException("only little-endian 64-bit ELF files are supported");
                }
                long sectionTable = (long)ReadUInt64(bytes, 0x28);
                ushort entrySize = ReadUInt16(bytes, 0x3A);
                ushort entries = ReadUInt16(bytes, 0x3C);
                for (int i = 0; i < entries; i++)
                {
                    long header = sectionTable + (long)i * entrySize;
                    Sections.Add(new Section
                    {
                        Type = ReadUInt32(bytes, header + 4),
                        Offset = ReadUInt64(bytes, header + 0x18),
                        Size = ReadUInt64(bytes, header + 0x20),
                        Link = ReadUInt32(bytes, header + 0x28),
                        Info = ReadUInt32(bytes, header + 0x2C),
                    });
                }
            }
        }

        /// <summary>Orders GLIBCXX_3.4.9 before GLIBCXX_3.4.30 (numerically, part by part).</summary>
        private sealed class VersionNameComparer : IComparer<string>
        {
            public static readonly VersionNameComparer Instance = new VersionNameComparer();

            public int Compare(string x, string y)
            {
                var a = Parts(x);
                var b = Parts(y);
                for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
                {
                    int pa = i < a.Length ? a[i] : -1;
                    int pb = i < b.Length ? b[i] : -1;
                    if (pa != pb)
                    {
                        return pa.CompareTo(pb);
                    }
                }
                return 0;
            }

            private static int[] Parts(string version) =>
                version.Substring(version.IndexOf('_') + 1).Split('.').Select(p => int.TryParse(p, out int v) ? v : 0).ToArray();
        }

        private static ushort ReadUInt16(byte[] b, long o) => (ushort)(b[o] | (b[o + 1] << 8));

        private static uint ReadUInt32(byte[] b, long o) => (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));

        private static ulong ReadUInt64(byte[] b, long o) => ReadUInt32(b, o) | ((ulong)ReadUInt32(b, o + 4) << 32);

        private static void WriteUInt32(byte[] b, long o, uint v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
            b[o + 2] = (byte)(v >> 16);
            b[o + 3] = (byte)(v >> 24);
        }

        private static string ReadString(byte[] b, long o)
        {
            long end = o;
            while (end < b.Length && b[end] != 0)
            {
                end++;
            }
            return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }

#if ROBUSTEVAL_RUNTIME
}
#else
/// <summary>MSBuild task: patches each given libLibTorchSharp.so where the system libstdc++ needs it.</summary>
public sealed class PatchGlibcxxRequirement : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; }

    public override bool Execute()
    {
        string system = GlibcxxVersionPatcher.FindSystemLibStdCxx();
        if (system == null)
        {
            Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "RobustEval: no system libstdc++.so.6 found; TorchSharp left as is");
            return true;
        }
        foreach (var item in Libraries)
        {
            try
            {
                string result = GlibcxxVersionPatcher.Patch(item.ItemSpec, system);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"RobustEval: {item.ItemSpec}: {result}");
            }
            catch (Exception e) when (e is InvalidDataException || e is InvalidOperationException || e is IOException)
            {
                Log.LogError($"RobustEval: cannot make {item.ItemSpec} loadable with {system}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif
