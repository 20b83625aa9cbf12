using System.Text.Json;
using System.Text.Json.Nodes;
using RobustEval.Data;
using RobustEval.Evaluator.Attacks;
using RobustEval.Evaluator.Classifiers;
using RobustEval.Evaluator.Runtime;
using RobustEval.Evaluator.Transfer;
using RobustEval.Geometry;

namespace RobustEval.Evaluator.Reports;

/// <summary>
/// Computes everything a report shows — clean and transfer accuracy, ε-sweeps against fresh attacks, FOSC of PGD
/// examples, training curves, image grids, gradient-masking notes — and draws its figures into the report folder.
/// </summary>
internal sealed class ReportBuilder(ReportSettings settings, OrtSessions sessions, string directory, Action<string> log)
{
    private readonly List<ReportFigure> _figures = [];
    private readonly List<string> _notes = [];
    private int _batch = AutoBatch.Default;

    public ReportData Build()
    {
        var classifiers = settings.Models.Select(path => ClassifierLoader.Load(path, settings.Preprocessing, sessions,
            size: settings.InputSize, sizeFromData: () => InputSize.FromData(settings.Data))).ToList();
        var names = UniqueNames(classifiers);
        var groups = settings.Replicates ? ReplicateGroups(classifiers) : null;
        var seedTransfer = settings.SeedSummary is null ? null : ReadSeedSummary(settings.SeedSummary);
        // With seeds, the per-model figures (grids, FOSC) are drawn for each net's first seed only.
        bool Drawn(int m) => groups is null || groups.Any(g => g.Members[0] == m);
        var first = classifiers[0];
        var spec = settings.Data ?? first.DefaultData();
        var data = first.LoadData(spec, notice: log).Data;
        foreach (var classifier in classifiers)
        {
            classifier.CheckData(data);
        }
        var attacked = data.Take(settings.Limit);
        var set = settings.TransferSet is null ? null : TransferSet.Load(settings.TransferSet);
        var hashes = classifiers.Select(c => TransferSetBuilder.Sha256(c.Path)).ToList();
        var earlier = ReadAutoAttackResults(settings.AutoAttackResults, hashes);
        var autoAttack = new List<ReportAutoAttack>();

        var models = new List<ReportModel>();
        var sweepAccuracy = settings.Sweeps.Select(_ => new Dictionary<string, double[]>()).ToList();
        var fosc = new List<ReportFosc>();
        var transferResults = new List<TransferResult>();
        for (int m = 0; m < classifiers.Count; m++)
        {
            var classifier = classifiers[m];
            log($"model {m + 1}/{classifiers.Count}: {classifier.Path}");
            using var prediction = new PredictionSession(classifier, sessions);
            using var gradients = new GradientSessions(classifier, sessions);
            _batch = AutoBatch.Resolve(settings.Batch, gradients, attacked, log).Batch;
            double clean = prediction.Accuracy(data);
            var notes = classifier.Notes.ToList();
            if (FeedingProbe.Check(classifier, data, clean, sessions) is { } feeding)
            {
                log($"  warning: {feeding}");
                notes.Add($"warning: {feeding}");
            }
            double zeroGradient = 0;
            for (int s = 0; s < settings.Sweeps.Count; s++)
            {
                var sweep = settings.Sweeps[s];
                var accuracy = new double[sweep.Radii.Count];
                double? subsetClean = null;
                for (int r = 0; r < sweep.Radii.Count; r++)
                {
                    if (sweep.Radii[r] <= 0)
                    {
                        continue;
                    }
                    var summary = Attack(gradients, sweep.At(sweep.Radii[r]), attacked).Summarize();
                    accuracy[r] = summary.AdversarialAccuracy;
                    subsetClean ??= summary.CleanAccuracy;
                    zeroGradient = Math.Max(zeroGradient, summary.ZeroGradientFraction);
                }
                for (int r = 0; r < sweep.Radii.Count; r++)
                {
                    if (sweep.Radii[r] <= 0)
                    {
                        accuracy[r] = subsetClean ?? prediction.Accuracy(attacked);
                    }
                }
                sweepAccuracy[s][names[m]] = accuracy;
            }
            if (Drawn(m))
            {
                fosc.Add(FoscHistogram(gradients, attacked, names[m], m));
            }
            autoAttack.AddRange(earlier.Where(e => e.Sha256 == hashes[m]).Select(e => e.Entry with { Model = names[m] }));
            AutoAttackResult? firstRun = null;
            foreach (var threat in settings.AutoAttacks)
            {
                log($"  autoattack {threat.Version} {threat.Norm.Name()} eps {threat.Eps:G4} on {attacked.Count:N0} images");
                var plan = AutoAttackPlan.Create(threat.Version, threat.Norm, threat.Eps, seed: 1, null, classifier.Classes, gradients.GradientBlockers);
                var result = new AutoAttack(gradients, plan, attacked, _batch).Run();
                firstRun ??= result;
                autoAttack.Add(ReportAutoAttack.From(names[m], threat.Norm.Name(), threat.Eps, plan.Version, result.Totals, "this report"));
            }
            if (firstRun is not null && Drawn(m))
            {
                AutoAttackGrid(firstRun, classifier, names[m], m);
            }
            else if (Drawn(m))
            {
                AdversarialGrid(gradients, attacked, names[m], m);
            }
            if (m == 0)
            {
                // The first model is the one the single-pixel figure and the transfer-set captions describe.
                if (set is not null)
                {
                    TransferGrids(set, prediction);
                }
                else
                {
                    SinglePixelGrid(gradients, attacked);
                }
            }
            if (set is not null)
            {
                var result = TransferEvaluation.Evaluate(prediction, set, data) with { Name = names[m] };
                transferResults.Add(result);
                notes.AddRange(MaskingNotes(gradients, set, result));
            }
            if (zeroGradient > 0)
            {
                notes.Add($"{zeroGradient:P1} of the attacked images have an all-zero gradient: gradients may be masked");
            }
            var card = classifier.Card;
            var trainingLog = TrainingLog.Find(classifier.Path);
            models.Add(new ReportModel
            {
                Index = m + 1,
                Path = classifier.Path,
                Name = names[m],
                Architecture = card?.Architecture,
                Method = card?.Method,
                Norm = card?.Norm,
                Eps = card?.Eps,
                Dataset = card?.Dataset,
                CardCleanAccuracy = card?.CleanAccuracy,
                CleanAccuracy = clean,
                ZeroGradientFraction = zeroGradient,
                TrainingSeconds = trainingLog?.Sum(e => e.Seconds),
                TrainingImagesPerSecond = trainingLog?.Average(e => e.ImagesPerSecond),
                Notes = notes,
            });
        }

        var nets = groups?.Select(g => Net(g, names, models, settings.Sweeps.Select((sweep, s) => (sweep.Key, sweepAccuracy[s])).ToList(), autoAttack)).ToList();
        var sweeps = new List<ReportSweep>();
        for (int s = 0; s < settings.Sweeps.Count; s++)
        {
            var sweep = settings.Sweeps[s];
            var name = $"sweep-{sweep.Key}";
            var attack = sweep.At(sweep.Radii.Max()).ToString();
            var label = sweep.Label;
            var x = sweep.Radii.Select(r => (double)r).ToArray();
            var title = $"Accuracy against fresh {label} {sweep.Norm.Symbol()} attacks";
            var axis = $"ε ({sweep.Norm.Symbol()}, pixel units)";
            string png, svg;
            if (nets is null)
            {
                (png, svg) = Figures.Lines(directory, name, title, axis, "accuracy", sweepAccuracy[s].Select(p => (p.Key, x, p.Value)).ToList(), (0, 1.02));
                _figures.Add(new ReportFigure(png, svg, "sweep", $"Accuracy of each model against fresh {label} {sweep.Norm.Symbol()} examples made with its own gradients, by radius (Shaham et al. Fig. 3)."));
            }
            else
            {
                var points = nets.Select(n => n.Sweeps[sweep.Key]).ToList();
                (png, svg) = Figures.Lines(directory, name, title, axis, "accuracy",
                    nets.Select((n, i) => ($"{n.Name} (n = {n.Models.Count})", x, points[i].Select(p => p.Mean).ToArray())).ToList(), (0, 1.02),
                    points.Select(p => p.All(v => v.Std is not null) ? p.Select(v => v.Std!.Value).ToArray() : null).ToList());
                _figures.Add(new ReportFigure(png, svg, "sweep", $"Accuracy of each net against fresh {label} {sweep.Norm.Symbol()} examples made with its own gradients, by radius " +
                    "(Shaham et al. Fig. 3): the mean over its seeds, with error bars of ± one sample standard deviation; n is the number of seeds."));
            }
            sweeps.Add(new ReportSweep { Key = sweep.Key, Norm = sweep.Norm.Name(), Attack = attack, Eps = sweep.Radii, Accuracy = sweepAccuracy[s], Figure = png });
        }
        var training = TrainingCurves(classifiers, names, groups);

        return new ReportData
        {
            Title = settings.Title,
            EvaluatorVersion = EvaluatorInfo.Version,
            Data = new ReportDataset(spec, data.Source, data.Count, attacked.Count),
            Models = models,
            Transfer = set is null ? null : new ReportTransfer { Set = settings.TransferSet!, Manifest = set.Manifest, Results = transferResults },
            Sweeps = sweeps,
            Replicates = nets,
            SeedTransfer = seedTransfer,
            AutoAttack = autoAttack,
            Fosc = fosc,
            Training = training,
            Figures = _figures,
            Notes = _notes,
        };
    }

    internal sealed record ReplicateGroup(string Name, IReadOnlyList<int> Members);

    /// <summary>
    /// --replicates: the models grouped by file name, in the order first given. Seeds of one net must share its
    /// training recipe (architecture, method, norm, ε of the card); a group whose models differ is refused, and so is a
    /// list in which no two models share a name.
    /// </summary>
    internal static List<ReplicateGroup> ReplicateGroups(IReadOnlyList<Classifier> classifiers)
    {
        var paths = classifiers.Select(c => Path.GetFullPath(c.Path)).ToList();
        if (paths.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new UserErrorException($"--replicates: {twice.Key} is given twice; seeds of one net are different files with the same name");
        }
        var groups = Enumerable.Range(0, classifiers.Count).GroupBy(m => Path.GetFileNameWithoutExtension(classifiers[m].Path))
            .Select(g => new ReplicateGroup(g.Key, g.ToList())).ToList();
        if (groups.All(g => g.Members.Count == 1))
        {
            throw new UserErrorException("--replicates: no two models share a file name; seeds of one net are files with the same name in different folders " +
                "(e.g. seed-1/net.onnx and seed-2/net.onnx)");
        }
        foreach (var group in groups)
        {
            static string Recipe(Classifier c) => c.Card is { } card ? $"{card.Architecture} {card.Method} {card.Norm} {card.Eps}".Trim() : "(no model card)";
            var recipes = group.Members.Select(m => Recipe(classifiers[m])).Distinct().ToList();
            if (recipes.Count > 1)
            {
                throw new UserErrorException($"--replicates: the models named {group.Name} are not seeds of one net: their cards say {string.Join(" vs ", recipes)}");
            }
        }
        return groups;
    }

    private static ReportNet Net(ReplicateGroup group, List<string> names, List<ReportModel> models, List<(string Key, Dictionary<string, double[]> Accuracy)> sweeps,
        List<ReportAutoAttack> autoAttack)
    {
        var members = group.Members.Select(m => names[m]).ToList();
        var threats = autoAttack.Where(a => members.Contains(a.Model)).GroupBy(a => (a.Norm, a.Eps, a.Version));
        var robust = new Dictionary<string, Spread>();
        foreach (var threat in threats)
        {
            var best = members.Select(m => threat.Where(a => a.Model == m).MinBy(a => a.RobustAccuracy)).ToList();
            if (best.All(a => a is not null))
            {
                robust[AutoAttackKey(threat.Key.Norm, threat.Key.Eps, threat.Key.Version)] = Spread.Of(best.Select(a => a!.RobustAccuracy).ToList());
            }
        }
        return new ReportNet
        {
            Name = group.Name,
            Models = members,
            CleanAccuracy = Spread.Of(group.Members.Select(m => models[m].CleanAccuracy).ToList()),
            Sweeps = sweeps.ToDictionary(s => s.Key, s => Enumerable.Range(0, s.Accuracy[members[0]].Length)
                .Select(r => Spread.Of(members.Select(m => s.Accuracy[m][r]).ToList())).ToArray()),
            AutoAttack = robust,
        };
    }

    /// <summary>"linf:0.1:standard": how a net's AutoAttack spreads are keyed.</summary>
    internal static string AutoAttackKey(string norm, float eps, string version) =>
        $"{norm}:{eps.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}:{version}";

    /// <summary>--seed-summary: the results.json of <c>transfer summarize</c>, refused in one line when it is not one.</summary>
    private static ReportSeedTransfer ReadSeedSummary(string path)
    {
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject json || json["nets"] is not JsonArray nets || json["seeds"] is not JsonValue seeds)
            {
                throw new FormatException("it has no seeds and nets");
            }
            return new ReportSeedTransfer
            {
                File = path,
                Seeds = seeds.GetValue<int>(),
                Control = json["control"]?.GetValue<string>(),
                RobustAccuracyAttack = json["robust_accuracy_attack"]?.GetValue<string>(),
                Nets = nets.Deserialize<List<NetSummary>>()!,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--seed-summary {path}: {e.Message}");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new UserErrorException($"--seed-summary {path}: not the results.json of evaluator transfer summarize ({e.Message.Split('\n')[0]})");
        }
    }

    private AttackRun Attack(GradientSessions sessions, AttackSettings attack, Dataset data) =>
        AttackRunner.Run(AttackRegistry.Create(attack, sessions), data, _batch);

    /// <summary>A registered attack with its defaults, at a given norm and radius.</summary>
    private static AttackSettings Named(string name, NormKind norm, float eps, int? steps = null) =>
        AttackRegistry.Resolve(new AttackRequest { Name = name, Norm = norm, Eps = eps, Steps = steps });

    private ReportFosc FoscHistogram(GradientSessions sessions, Dataset data, string name, int index)
    {
        var attack = Named("pgd", settings.FoscNorm, settings.FoscEps, settings.FoscSteps);
        var run = Attack(sessions, attack, data.Take(settings.FoscLimit));
        var fosc = run.Results.Examples.Select(e => e.Fosc).ToArray();
        var (png, svg) = Figures.Histogram(directory, $"fosc-{index + 1}", $"FOSC of PGD examples: {name}", "FOSC at the final iterate",
            fosc, 20, out var edges, out var counts);
        _figures.Add(new ReportFigure(png, svg, "fosc", $"{name}: FOSC (Wang et al.) of {run.Count} {attack} examples; 0 means a stationary point of the inner maximisation."));
        return new ReportFosc { Model = name, Attack = attack.ToString(), Mean = fosc.Average(), Edges = edges, Counts = counts, Figure = png };
    }

    /// <summary>Originals, adversarials and amplified perturbations of the first correctly classified images.</summary>
    private void AdversarialGrid(GradientSessions sessions, Dataset data, string name, int index)
    {
        var sweep = settings.Sweeps.FirstOrDefault();
        var radii = sweep?.Radii.Where(r => r > 0).Order().ToArray() ?? [];
        var attack = sweep is not null && radii.Length > 0 ? sweep.At(radii[radii.Length / 2]) : Named("fgm", NormKind.Linf, AttackRegistry.DefaultEps(NormKind.Linf));
        var run = Attack(sessions, attack, data.Take(Math.Min(data.Count, 200)));
        var chosen = Enumerable.Range(0, run.Count).Where(i => run[i].CleanCorrect).Take(settings.GridImages).ToList();
        if (chosen.Count == 0)
        {
            return;
        }
        var classes = sessions.Classifier.ClassNames;
        var file = $"grid-{index + 1}.png";
        var (c, h, w) = (data.Channels, data.Height, data.Width);
        ImageGrid.Save(Path.Combine(directory, file),
        [
            ("original", chosen.Select(i => new GridCell(data.Image(i).ToArray(), c, h, w, $"true {Short(classes[(int)run[i].Label])}")).ToList()),
            ("adversarial", chosen.Select(i => new GridCell(run.Adversarial(i).ToArray(), c, h, w,
                Fooled(ClassName(classes, run[i].Prediction), run[i].Prediction != run[i].Label))).ToList()),
            ("perturbation", chosen.Select(i => new GridCell(Difference(run, data, i), c, h, w, "amplified", IsPerturbation: true)).ToList()),
        ]);
        var why = sweep is not null && radii.Length > 0
            ? $"ε = {attack.Eps:G4} is the middle radius of the first sweep ({sweep.Label} {sweep.Norm.Symbol()}), where the nets' accuracies differ most"
            : $"ε = {attack.Eps:G4} is the default {attack.Norm.Symbol()} radius (no sweep was asked for)";
        _figures.Add(new ReportFigure(file, null, "grids", $"{name}: originals above {attack} adversarial examples with their predictions (\"fooled\": the attack changed the class); " +
            $"the last row shows the perturbation, amplified (grey = no change). {why}."));
    }

    /// <summary>The first AutoAttack run's final points: the strongest examples the report has, marked fooled or held.</summary>
    private void AutoAttackGrid(AutoAttackResult result, Classifier classifier, string name, int index)
    {
        var data = result.Data;
        var chosen = Enumerable.Range(0, data.Count).Where(i => result.CleanPredictions[i] == result.Labels[i]).Take(settings.GridImages).ToList();
        if (chosen.Count == 0)
        {
            return;
        }
        var classes = classifier.ClassNames;
        int size = data.ImageSize;
        var (c, h, w) = (data.Channels, data.Height, data.Width);
        float[] Point(int i) => result.Adversarial.AsSpan(i * size, size).ToArray();
        var file = $"grid-{index + 1}.png";
        ImageGrid.Save(Path.Combine(directory, file),
        [
            ("original", chosen.Select(i => new GridCell(data.Image(i).ToArray(), c, h, w, $"true {Short(classes[(int)result.Labels[i]])}")).ToList()),
            ("AutoAttack", chosen.Select(i => new GridCell(Point(i), c, h, w,
                Fooled(ClassName(classes, result.Predictions[i]), result.FooledBy[i] >= 0 && result.Predictions[i] != result.Labels[i]))).ToList()),
            ("perturbation", chosen.Select(i => new GridCell(Point(i).Select((v, j) => v - data.Image(i)[j]).ToArray(), c, h, w, "amplified", IsPerturbation: true)).ToList()),
        ]);
        var plan = result.Plan;
        _figures.Add(new ReportFigure(file, null, "grids",
            $"{name}: originals above their AutoAttack ({plan}) points with the predictions (\"fooled\": some attack of the ensemble changed the class; otherwise the clean image is shown); " +
            $"the last row shows the perturbation, amplified (grey = no change). ε = {plan.Eps:G4} is the report's first AutoAttack threat model, the one its headline table reports."));
    }

    private static string Fooled(string prediction, bool fooled) => fooled ? $"{Short(prediction)} fooled" : $"pred {Short(prediction)}";

    private sealed record EarlierAutoAttack(string Sha256, ReportAutoAttack Entry);

    /// <summary>
    /// AutoAttack results of earlier runs (autoattack or merge): each must be of one of the report's models, by
    /// SHA-256; anything else is an error before any work.
    /// </summary>
    private static List<EarlierAutoAttack> ReadAutoAttackResults(IReadOnlyList<string> paths, IReadOnlyList<string> hashes)
    {
        var found = new List<EarlierAutoAttack>();
        foreach (var given in paths)
        {
            var file = AutoAttackResultsFile.Read(given, "--autoattack-results ");
            var sha = file.ModelSha256;
            if (!hashes.Contains(sha))
            {
                throw new UserErrorException($"--autoattack-results {file.Path}: its model (SHA-256 {sha[..Math.Min(12, sha.Length)]}…) is none of --models");
            }
            var plan = file.Json["autoattack"]!;
            found.Add(new EarlierAutoAttack(sha, ReportAutoAttack.From("", plan["norm"]!.GetValue<string>(), plan["eps"]!.GetValue<float>(),
                plan["version"]!.GetValue<string>(), file.Totals, file.Path)));
        }
        return found;
    }

    private void SinglePixelGrid(GradientSessions sessions, Dataset data)
    {
        var classifier = sessions.Classifier;
        var run = Attack(sessions, Named("fgm", NormKind.L1, 1.0f), data);
        var found = Enumerable.Range(0, run.Count).Where(i => run[i].CleanCorrect && run[i].Success).Take(settings.GridImages).ToList();
        var tried = Enumerable.Range(0, run.Count).Count(i => run[i].CleanCorrect);
        if (found.Count == 0)
        {
            _notes.Add($"No single-pixel (ℓ1, ε = 1) example fooled {classifier.Name} on {tried} correctly classified images; such examples are rare, and their absence is no proof of robustness.");
            return;
        }
        SinglePixelFigure(found.Select(i => data.Image(i).ToArray()).ToList(), found.Select(i => run.Adversarial(i).ToArray()).ToList(),
            found.Select(i => run[i].Label).ToList(), found.Select(i => run[i].Prediction).ToList(), classifier, data.Channels, data.Height, data.Width,
            $"Single-pixel (ℓ1, ε = 1) examples against {classifier.Name}: {found.Count} shown; {run.Summarize().Successes} of {tried} correctly classified images were fooled (Shaham et al. Fig. 1). The changed pixel is circled.");
    }

    private void SinglePixelFigure(List<float[]> originals, List<float[]> adversarial, List<long> labels, List<long> predictions, Classifier classifier,
        int c, int h, int w, string caption)
    {
        var classes = classifier.ClassNames;
        var circles = originals.Select((x, k) => ChangedPixels(x, adversarial[k], c, h, w)).ToList();
        ImageGrid.Save(Path.Combine(directory, "single-pixel.png"),
        [
            ("original", originals.Select((x, k) => new GridCell(x, c, h, w, $"true {Short(classes[(int)labels[k]])}", Circles: circles[k])).ToList()),
            ("one pixel changed", adversarial.Select((x, k) => new GridCell(x, c, h, w, $"pred {Short(classes[(int)predictions[k]])}", Circles: circles[k])).ToList()),
        ]);
        _figures.Add(new ReportFigure("single-pixel.png", null, "single-pixel", caption));
    }

    /// <summary>Grids of the transfer set: a sample per norm (Fig. 2/4), and its single-pixel examples circled (Fig. 1).</summary>
    private void TransferGrids(TransferSet set, PredictionSession prediction)
    {
        var first = prediction.Classifier;
        var predictions = prediction.Predict(set.Adversarial, set.Count);
        var classes = set.Manifest.ClassNames;
        var (c, h, w) = (set.Channels, set.Height, set.Width);
        var rows = new List<(string, IReadOnlyList<GridCell>)>();
        foreach (var norm in new[] { NormKind.L1, NormKind.L2, NormKind.Linf })
        {
            var indices = Enumerable.Range(0, set.Count).Where(i => set.Norms[i] == (long)norm).Take(settings.GridImages).ToList();
            if (indices.Count == 0)
            {
                continue;
            }
            rows.Add(($"{norm.Symbol()} original", indices.Select(i => new GridCell(Slice(set.Originals, i, set.ImageSize), c, h, w, $"true {Short(classes[(int)set.Labels[i]])}")).ToList()));
            rows.Add(($"{norm.Symbol()} ε={set.Eps[indices[0]]:G3}", indices.Select(i => new GridCell(Slice(set.Adversarial, i, set.ImageSize), c, h, w,
                $"{Short(first.ClassNames[(int)predictions[i]])}")).ToList()));
        }
        if (rows.Count > 0)
        {
            ImageGrid.Save(Path.Combine(directory, "transfer-sample.png"), rows);
            _figures.Add(new ReportFigure("transfer-sample.png", null, "transfer",
                $"A sample of the transfer set made against {Path.GetFileName(set.Manifest.SourceModel)}: originals with their labels above the adversarial examples with {first.Name}'s prediction (Shaham et al. Fig. 2/4)."));
        }
        var single = Enumerable.Range(0, set.Count).Where(i => set.Norms[i] == (long)NormKind.L1).Take(settings.GridImages).ToList();
        var l1 = set.Manifest.Norms.FirstOrDefault(n => n.Norm == "l1");
        if (single.Count > 0 && set.Manifest.Pixels == 1)
        {
            SinglePixelFigure(single.Select(i => Slice(set.Originals, i, set.ImageSize)).ToList(), single.Select(i => Slice(set.Adversarial, i, set.ImageSize)).ToList(),
                single.Select(i => set.Labels[i]).ToList(), single.Select(i => predictions[i]).ToList(), first, c, h, w,
                $"Single-pixel examples of the transfer set: {l1?.Found ?? single.Count} of {l1?.Tried ?? 0} correctly classified test images were fooled by changing one pixel by up to ε = {l1?.Eps:G3} (Shaham et al. Fig. 1). The changed pixel is circled; captions are {first.Name}'s predictions.");
        }
        else if (l1 is not null)
        {
            _notes.Add($"No single-pixel example was found: none of {l1.Tried} correctly classified images was fooled by one pixel changed by ε = {l1.Eps:G3}.");
        }
    }

    /// <summary>
    /// AutoAttack's check that a white-box attack is not weaker than a black-box one: on the transfer set's own
    /// source images, a fresh FGM with this model's gradients should fool it at least as often as the transferred examples do.
    /// </summary>
    private List<string> MaskingNotes(GradientSessions sessions, TransferSet set, TransferResult result)
    {
        var notes = new List<string>();
        foreach (var count in set.Manifest.Norms)
        {
            var norm = NormKinds.Parse(count.Norm);
            var originals = set.AsDataset(adversarial: false, norm);
            // Below 50 examples a difference is mostly noise; above, it must exceed the sampling error (≈ 1/√n).
            if (originals.Count < 50 || !result.PerNorm.TryGetValue(count.Norm, out var transfer))
            {
                continue;
            }
            var fresh = Attack(sessions, Named("fgm", norm, count.Eps), originals).Summarize().AdversarialAccuracy;
            if (fresh - transfer > Math.Max(0.02, 1 / Math.Sqrt(originals.Count)))
            {
                notes.Add($"fresh white-box {norm.Symbol()} FGM at ε = {count.Eps:G3} leaves {fresh:P1} of the transfer set's source images correct, but only {transfer:P1} " +
                    "of the transferred examples are: a black-box attack beats the white-box one, a sign of gradient masking");
            }
        }
        return notes;
    }

    private List<ReportTraining> TrainingCurves(List<Classifier> classifiers, List<string> names, List<ReplicateGroup>? groups)
    {
        var all = classifiers.Select((c, i) => (Name: names[i], Log: TrainingLog.Find(c.Path))).ToList();
        var logs = all.Where(p => p.Log is not null).ToList();
        if (logs.Count == 0)
        {
            return [];
        }
        // Over seeds: a net's curve is the mean over its seeds with ± one standard deviation, where every seed has a log of the same epochs.
        var curves = groups?.Select(g => g.Members.Select(m => all[m].Log).ToList())
            .Where(l => l.All(log => log is not null && log.Count == l[0]!.Count && log.Select(e => e.Epoch).SequenceEqual(l[0]!.Select(e => e.Epoch))))
            .ToList();
        if (curves is not null && curves.Count == groups!.Count)
        {
            var spreads = curves.Select(l => Enumerable.Range(0, l[0]!.Count).Select(e => Spread.Of(l.Select(log => log![e].TestAccuracy).ToList())).ToList()).ToList();
            var (png, svg) = Figures.Lines(directory, "training-accuracy", "Clean test accuracy during training", "epoch", "test accuracy",
                groups.Select((g, i) => ($"{g.Name} (n = {g.Members.Count})", curves[i][0]!.Select(e => (double)e.Epoch).ToArray(), spreads[i].Select(s => s.Mean).ToArray())).ToList(),
                errors: spreads.Select(l => l.All(s => s.Std is not null) ? l.Select(s => s.Std!.Value).ToArray() : null).ToList());
            _figures.Add(new ReportFigure(png, svg, "training", "Clean test accuracy after each epoch, from the training logs (Shaham et al. Fig. 5): each net's mean over its seeds, ± one sample standard deviation."));
        }
        else
        {
            var (png, svg) = Figures.Lines(directory, "training-accuracy", "Clean test accuracy during training", "epoch", "test accuracy",
                logs.Select(p => (p.Name, p.Log!.Select(e => (double)e.Epoch).ToArray(), p.Log!.Select(e => e.TestAccuracy).ToArray())).ToList());
            _figures.Add(new ReportFigure(png, svg, "training", "Clean test accuracy after each epoch, from each model's training log (Shaham et al. Fig. 5)."));
        }
        var withFosc = logs.Where(p => p.Log!.Any(e => e.MeanFosc is not null)).ToList();
        if (withFosc.Count > 0)
        {
            var series = new List<(string, double[], double[])>();
            foreach (var (name, log) in withFosc)
            {
                series.Add(($"{name} mean FOSC", log!.Select(e => (double)e.Epoch).ToArray(), log!.Select(e => e.MeanFosc ?? 0).ToArray()));
                if (log!.Any(e => e.FoscThreshold is not null))
                {
                    series.Add(($"{name} threshold c_t", log!.Select(e => (double)e.Epoch).ToArray(), log!.Select(e => e.FoscThreshold ?? 0).ToArray()));
                }
            }
            var (fPng, fSvg) = Figures.Lines(directory, "training-fosc", "FOSC of the training examples", "epoch", "FOSC", series);
            _figures.Add(new ReportFigure(fPng, fSvg, "training", "Mean FOSC of the adversarial examples trained on and, for dynamic training, the threshold c_t (Wang et al.)."));
        }
        return logs.Select(p => new ReportTraining { Model = p.Name, Epochs = p.Log! }).ToList();
    }

    private static List<string> UniqueNames(List<Classifier> classifiers)
    {
        var names = new List<string>();
        foreach (var classifier in classifiers)
        {
            var name = classifier.Name;
            for (int k = 2; names.Contains(name); k++)
            {
                name = $"{classifier.Name} ({k})";
            }
            names.Add(name);
        }
        return names;
    }

    private static List<(int, int)> ChangedPixels(float[] original, float[] adversarial, int c, int h, int w)
    {
        var changed = new HashSet<(int, int)>();
        for (int i = 0; i < original.Length; i++)
        {
            if (original[i] != adversarial[i])
            {
                int p = i % (h * w);
                changed.Add((p / w, p % w));
            }
        }
        return [.. changed];
    }

    private static float[] Difference(AttackRun run, Dataset data, int index)
    {
        var clean = data.Image(index);
        var adversarial = run.Adversarial(index);
        var result = new float[data.ImageSize];
        for (int j = 0; j < result.Length; j++)
        {
            result[j] = adversarial[j] - clean[j];
        }
        return result;
    }

    /// <summary>A class's name; "none" for the −1 prediction of non-finite scores.</summary>
    private static string ClassName(IReadOnlyList<string> classes, long index) => index >= 0 && index < classes.Count ? classes[(int)index] : "none";

    private static float[] Slice(float[] values, int index, int size) => values.AsSpan(index * size, size).ToArray();

    private static string Short(string label) => label.Length > 12 ? label[..11] + "…" : label;
}
