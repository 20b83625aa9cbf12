#!/usr/bin/env python3
"""PyTorch reference for RobustEval's benchmarks: the same nets, weights, batch sizes and loops.

Run by bench/run.sh through the C# harness, which alternates it with RobustEval and prints the ratios.
Prints one JSON object: {"task": ..., "images_per_second": ..., "seconds": ..., "images": ...}.
Needs only PyTorch: the ONNX weights and the .npz data are read with the small readers below, so it also runs where
neither the onnx package nor numpy is installed (the lent GPU machine).

Tasks:
  forward          model(x) without gradients
  fgm              clean forward+backward, one step, clip, final forward+backward (prediction and FOSC):
                   the work `evaluator attack --attack fgm` does per batch
  pgd              random start, K projected steps, final forward+backward (as `--attack pgd --steps K`)
  pgd-all          every image of --data (or its first --limit) through PGD-K in batches of --batch, then the
                   predictions: the plain loop a user would write instead of `evaluator attack` (bench/command.sh times
                   the whole process, as it times the evaluator's)
  apgd             APGD (Croce & Hein 2020, Algorithm 1; linf or l2) for K iterations on every example, no early
                   stopping (as `--attack apgd --steps K --early-stop false`): the cost of an iteration
  train-standard   one training epoch (SGD, momentum 0.9, weight decay) on the given data
  train-robust     one epoch of Shaham et al.'s Algorithm 1 (l-inf step computed in eval mode, update in train mode)
"""
import argparse
import os
import ast
import json
import math
import struct
import sys
import time
import zipfile


def _avx512_kernels_for_openblas():
    """Debian's PyTorch calls OpenBLAS for every Linear and attention product. On an AVX-512 CPU the reference should
    use OpenBLAS's AVX-512 GEMM kernels, as ONNX Runtime uses its own; but OpenBLAS 0.3.21 does not know AMD's
    AVX-512 cores (Zen 4 and 5), and the project's EPYC VM pins OPENBLAS_CORETYPE=Haswell in its environment: AVX2
    kernels, 190 against 360 GFLOPS there, which made ViT-small's and ConvNeXt-small's reference about 1.5× slower
    than it need be. Where the CPU has AVX-512 and the core is unset or an AVX2 one, name the AVX-512 kernels before
    PyTorch loads the library (a choice in the reference's favour)."""
    if os.environ.get("OPENBLAS_CORETYPE", "").lower() not in ("", "haswell", "zen"):
        return
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return
    if all(f in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl")):
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"


def _keep_freed_memory():
    """glibc hands freed blocks above its trim and mmap thresholds back to the system, so PyTorch's large temporaries
    are page-faulted in afresh on every call: on the project's EPYC VM that made the MNIST net's forward+backward at
    batch 256 six times slower (about 180 ms against 29). Keep freed memory in the process, as ONNX Runtime's arena
    does and as jemalloc or tcmalloc (which PyTorch's CPU tuning guides recommend) would: a choice in the reference's
    favour."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_trim_threshold, 2**31 - 1)
    libc.mallopt(m_mmap_max, 0)  # every block from the heap: the mmap threshold cannot go above 32 MiB


_avx512_kernels_for_openblas()
_keep_freed_memory()

import torch  # noqa: E402 (after the OpenBLAS core is chosen)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# --- Minimal readers: ONNX (protobuf wire format, only the fields the exported nets use) and .npz ------------------

def _varint(buf, i):
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf):
    """(field number, value) pairs of one protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


def _int64s(values):
    """Repeated int64 fields, packed (bytes) or not (ints), as signed numbers."""
    out = []
    for value in values:
        if isinstance(value, (bytes, bytearray)):
            i = 0
            while i < len(value):
                number, i = _varint(value, i)
                out.append(number)
        else:
            out.append(value)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in out]


def _message(buf):
    fields = {}
    for field, value in _fields(buf):
        fields.setdefault(field, []).append(value)
    return fields


def _text(fields, number):
    return fields[number][0].decode() if number in fields else ""


def _tensor(buf):
    t = _message(buf)
    dims = _int64s(t.get(1, []))
    if t.get(2, [1])[0] != 1:
        raise SystemExit("reference.py: only float32 initializers are expected")
    raw = t[9][0] if 9 in t else b"".join(t.get(4, []))
    return _text(t, 8), torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(dims).clone()


def read_onnx(path):
    """(nodes as (op_type, inputs, attributes), initializers by name, input dims) of an exported classifier."""
    with open(path, "rb") as f:
        graph = _message(_message(f.read())[7][0])
    weights = dict(_tensor(t) for t in graph.get(5, []))
    nodes = []
    for raw in graph.get(1, []):
        node = _message(raw)
        attributes = {}
        for a in node.get(5, []):
            attribute = _message(a)
            name = _text(attribute, 1)
            if 8 in attribute:
                attributes[name] = _int64s(attribute[8])
            elif 3 in attribute:
                attributes[name] = _int64s(attribute[3])[0]
            elif 2 in attribute:
                attributes[name] = struct.unpack("<f", attribute[2][0])[0]
        nodes.append((_text(node, 4), [v.decode() for v in node.get(1, [])], attributes))
    first_input = next(_message(v) for v in graph[11] if _text(_message(v), 1) not in weights)
    shape = _message(_message(_message(first_input[2][0])[1][0])[2][0])
    dims = [_message(d).get(1, [0])[0] for d in shape.get(1, [])]
    return nodes, weights, dims


_NPY_TYPES = {"<f4": torch.float32, "<i8": torch.int64, "|u1": torch.uint8, "<i4": torch.int32}


def read_npz(path):
    """The arrays of a numpy .npz (C order, little-endian) as tensors."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if data[:6] != b"\x93NUMPY":
                raise SystemExit(f"reference.py: {member} is not a .npy array")
            header_length, start = (struct.unpack("<H", data[8:10])[0], 10) if data[6] == 1 else (struct.unpack("<I", data[8:12])[0], 12)
            header = ast.literal_eval(data[start:start + header_length].decode("latin1"))
            if header["fortran_order"] or header["descr"] not in _NPY_TYPES:
                raise SystemExit(f"reference.py: unsupported array {member}: {header}")
            values = torch.frombuffer(bytearray(data[start + header_length:]), dtype=_NPY_TYPES[header["descr"]])
            arrays[member.removesuffix(".npy")] = values.reshape(header["shape"]).clone()
    return arrays


class Standardize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


def build(onnx_path):
    """The exported net as a torch.nn.Sequential with the same weights, read from the ONNX graph."""
    nodes, weights, _ = read_onnx(onnx_path)
    layers = []
    for op, inputs, attrs in nodes:
        if op == "Sub":
            mean, std = weights[inputs[1]], None
        elif op == "Div":
            std = weights[inputs[1]]
            layers.append(Standardize(mean, std))
        elif op == "Conv":
            w = weights[inputs[1]]
            conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=tuple(attrs.get("strides", [1, 1])),
                             padding=tuple(attrs.get("pads", [0, 0, 0, 0])[:2]))
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(weights[inputs[2]])
            layers.append(conv)
        elif op == "BatchNormalization":
            scale = weights[inputs[1]]
            bn = nn.BatchNorm2d(len(scale), eps=attrs.get("epsilon", 1e-5)) if _rank_hint(layers) else nn.BatchNorm1d(len(scale), eps=attrs.get("epsilon", 1e-5))
            bn.weight.data.copy_(scale)
            bn.bias.data.copy_(weights[inputs[2]])
            bn.running_mean.copy_(weights[inputs[3]])
            bn.running_var.copy_(weights[inputs[4]])
            layers.append(bn)
        elif op == "Relu":
            layers.append(nn.ReLU())
        elif op == "MaxPool":
            layers.append(nn.MaxPool2d(tuple(attrs["kernel_shape"]), stride=tuple(attrs["strides"])))
        elif op == "Flatten":
            layers.append(nn.Flatten())
        elif op == "Gemm":
            w = weights[inputs[1]]
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight.data.copy_(w)
            linear.bias.data.copy_(weights[inputs[2]])
            layers.append(linear)
        else:
            raise SystemExit(f"reference.py: unexpected op {op}")
    return nn.Sequential(*layers)


def _rank_hint(layers):
    """BatchNorm after a Flatten is the 1-D kind."""
    return not any(isinstance(layer, nn.Flatten) for layer in layers)


def input_gradient(model, x, y):
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, y, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, [x])
    return logits.detach(), gradient


def steepest(g, eps, norm):
    flat = g.flatten(1)
    if norm == "linf":
        step = flat.sign() * eps
    elif norm == "l2":
        step = flat * (eps / flat.norm(dim=1, keepdim=True).clamp_min(1e-12))
    else:
        index = flat.abs().argmax(dim=1, keepdim=True)
        step = torch.zeros_like(flat).scatter_(1, index, flat.gather(1, index).sign() * eps)
    return step.view_as(g)


def project(delta, eps, norm):
    flat = delta.flatten(1)
    if norm == "linf":
        out = flat.clamp(-eps, eps)
    elif norm == "l2":
        out = flat * (eps / flat.norm(dim=1, keepdim=True).clamp_min(eps))
    else:
        magnitude = flat.abs()
        sorted_, _ = magnitude.sort(dim=1, descending=True)
        cumulative = sorted_.cumsum(1)
        ranks = torch.arange(1, flat.shape[1] + 1, dtype=flat.dtype, device=flat.device).unsqueeze(0)
        rho = ((sorted_ - (cumulative - eps) / ranks) > 0).sum(1, keepdim=True).clamp_min(1)
        theta = ((cumulative.gather(1, rho - 1) - eps) / rho).clamp_min(0)
        inside = magnitude.sum(1, keepdim=True) <= eps
        out = torch.where(inside, flat, flat.sign() * (magnitude - theta).clamp_min(0))
    return out.view_as(delta)


def random_in_ball(like, eps, norm):
    """Uniform in the ball, per example (as RobustEval's NormBall.RandomStart)."""
    n, d = like.shape[0], like[0].numel()
    if norm == "linf":
        sample = (torch.rand(n, d) * 2 - 1) * eps
    elif norm == "l2":
        direction = torch.randn(n, d)
        direction /= direction.norm(dim=1, keepdim=True)
        sample = direction * torch.rand(n, 1).pow(1.0 / d) * eps
    else:
        exponential = -torch.log(1 - torch.rand(n, d + 1))
        sample = exponential[:, :d] / exponential.sum(1, keepdim=True) * (torch.randint(0, 2, (n, d)) * 2 - 1) * eps
    return sample.view_as(like).to(like.device)


def dual(g, norm):
    flat = g.flatten(1)
    return flat.abs().sum(1) if norm == "linf" else flat.norm(dim=1) if norm == "l2" else flat.abs().amax(1)


def attack(model, x, y, norm, eps, steps, step_size, random_start):
    logits, g = input_gradient(model, x, y)
    adversarial = (x + random_in_ball(x, eps, norm)).clamp(0, 1) if random_start else x.clone()
    for k in range(steps):
        if k > 0 or random_start:
            _, g = input_gradient(model, adversarial, y)
        adversarial = adversarial + steepest(g, step_size, norm)
        adversarial = (x + project(adversarial - x, eps, norm)).clamp(0, 1)
    final, g = input_gradient(model, adversarial, y)
    fosc = eps * dual(g, norm) - ((adversarial - x).flatten(1) * g.flatten(1)).sum(1)
    return final.argmax(1), fosc


def loss_gradient(model, x, loss):
    """Logits, per-example loss and its input gradient, for any loss of the logits."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    value = loss(logits)
    (gradient,) = torch.autograd.grad(value.sum(), [x])
    return logits.detach(), value.detach(), gradient


def dlr_targeted(y, t):
    def loss(z):
        ordered, _ = z.sort(1, descending=True)
        u = torch.arange(len(z), device=z.device)
        return -(z[u, y] - z[u, t]) / (ordered[:, 0] - 0.5 * (ordered[:, 2] + ordered[:, 3]) + 1e-12)
    return loss


def apgd_run(model, x, y, norm, eps, iterations, loss):
    """APGD with every example running all iterations: random start on the sphere, step 2 eps halved per example at the
    checkpoints ceil(p_j N) (p = 0.22, 0.41, 0.57, ...) when under 75 % of the window's steps raised the loss or neither
    step nor best loss moved, momentum 0.75, restarts from the best point. Written from the paper for this benchmark.
    Returns the best-loss points, which points some iterate misclassified, and that iterate."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    t = torch.rand_like(x) * 2 - 1 if norm == "linf" else torch.randn_like(x)
    size = t.flatten(1).abs().amax(1) if norm == "linf" else t.flatten(1).norm(dim=1)
    current = (x + eps * t / (size.view(shape) + 1e-12)).clamp(0, 1)
    lo, hi = (x - eps).clamp_min(0), (x + eps).clamp_max(1)

    def project(p):
        if norm == "linf":
            return torch.min(torch.max(p, lo), hi)
        d = p - x
        length = d.flatten(1).norm(dim=1).view(shape)
        return (x + d * torch.clamp(length, max=eps) / (length + 1e-12)).clamp(0, 1)

    logits, value, g = loss_gradient(model, current, loss)
    fooled = logits.argmax(1) != y
    adversarial = current.clone()
    best, best_g, best_loss = current.clone(), g.clone(), value.clone()
    previous, last = current.clone(), value.clone()
    eta = torch.full((len(x),), 2 * eps, device=x.device)
    increases = torch.zeros(len(x), device=x.device)
    reduced = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    best_at_check = best_loss.clone()
    checkpoints, p, step = set(), 22, 22
    while (p * iterations + 99) // 100 <= iterations:
        checkpoints.add((p * iterations + 99) // 100)
        step = max(step - 3, 6)
        p += step
    last_check = 0
    for k in range(iterations):
        alpha = 1.0 if k == 0 else 0.75
        direction = g.sign() if norm == "linf" else g / (g.flatten(1).norm(dim=1).view(shape) + 1e-12)
        z = project(current + eta.view(shape) * direction)
        moved = project(current + alpha * (z - current) + (1 - alpha) * (current - previous))
        previous, current = current, moved
        logits, value, g = loss_gradient(model, current, loss)
        newly = (logits.argmax(1) != y) & ~fooled
        adversarial[newly] = current[newly]
        fooled |= newly
        increases += (value > last).float()
        last = value
        better = value > best_loss
        best[better], best_g[better] = current[better], g[better]
        best_loss = torch.where(better, value, best_loss)
        if k + 1 in checkpoints:
            window = k + 1 - last_check
            restart = (increases < 0.75 * window) | (~reduced & (best_at_check >= best_loss))
            reduced, best_at_check = restart, best_loss.clone()
            eta = torch.where(restart, eta / 2, eta)
            current[restart], g[restart] = best[restart], best_g[restart]
            increases.zero_()
            last_check = k + 1
    return best, fooled, adversarial


def apgd(model, x, y, norm, eps, iterations):
    """The APGD benchmark: the clean evaluation every evaluator run starts with, then APGD on the cross-entropy."""
    input_gradient(model, x, y)
    return apgd_run(model, x, y, norm, eps, iterations, lambda z: F.cross_entropy(z, y, reduction="none"))[0]


def project_linf_hyperplane(x, w, r):
    """Smallest linf step d with w.d = r and x + d in [0, 1] (FAB's projection), batched: walk the sorted breakpoints."""
    s = torch.sign(r).unsqueeze(1)
    signed = w * s
    a = signed.abs()
    room = torch.where(signed > 0, 1 - x, torch.where(signed < 0, x, torch.zeros_like(x)))
    caps, order = room.sort(1)
    gains = a.gather(1, order)
    before = (gains * caps).cumsum(1) - gains * caps
    after = gains.flip(1).cumsum(1).flip(1)
    reach = before + caps * after
    need = r.abs().unsqueeze(1)
    hit = reach >= need
    k = hit.float().argmax(1, keepdim=True)
    level = (need - before.gather(1, k)) / after.gather(1, k).clamp_min(1e-30)
    level = torch.where(hit.any(1, keepdim=True), level, torch.full_like(level, float("inf")))
    return torch.sign(signed) * torch.min(level, room)


def fab_targeted(model, x, y, target, eps, iterations):
    """FAB-T (linf) as in AutoAttack: gradient of z_t - z_y, projections of x1 and x0, alpha <= 0.1, eta 1.05, beta 0.9."""
    u = torch.arange(len(x))
    difference = lambda z: z[u, target] - z[u, y]
    x0 = x.flatten(1)
    x1 = x0.clone()
    best = torch.full((len(x),), float("inf"))
    _, f, g = loss_gradient(model, x1.view_as(x), difference)
    for _ in range(iterations):
        w = g.flatten(1)
        d1 = project_linf_hyperplane(x1, w, -f)
        d2 = project_linf_hyperplane(x0, w, (w * x1).sum(1) - f - (w * x0).sum(1))
        a1, a2 = d1.abs().amax(1).clamp_min(1e-8), d2.abs().amax(1).clamp_min(1e-8)
        alpha = (a1 / (a1 + a2)).clamp(0, 0.1).unsqueeze(1)
        x1 = ((x1 + 1.05 * d1) * (1 - alpha) + (x0 + 1.05 * d2) * alpha).clamp(0, 1)
        with torch.no_grad():
            adversarial = model(x1.view_as(x)).argmax(1) != y
        size = (x1 - x0).abs().amax(1)
        best = torch.where(adversarial & (size < best), size, best)
        x1 = torch.where(adversarial.unsqueeze(1), x0 + (x1 - x0) * 0.9, x1)
        _, f, g = loss_gradient(model, x1.view_as(x), difference)
    return best <= eps


def square_linf(model, x, y, eps, queries):
    """Square (linf) as in AutoAttack: vertical stripes, then one random window per query (shared by the batch)."""
    n, c, h, w = x.shape
    u = torch.arange(n)

    def margin(z, labels):
        others = z.clone()
        others[torch.arange(len(z)), labels] = -float("inf")
        return z[torch.arange(len(z)), labels] - others.amax(1)

    with torch.no_grad():
        best = (x + eps * (torch.randint(0, 2, (n, c, 1, w)) * 2 - 1)).clamp(0, 1)
        m = margin(model(best), y)
        for i in range(queries):
            left = (m > 0).nonzero().squeeze(1)
            if len(left) == 0:
                break
            scaled = int(i / queries * 10000)
            p = 0.8 / 2 ** sum(scaled > b for b in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
            side = min(max(int(round(math.sqrt(p * h * w))), 1), h)
            top, lft = int(torch.randint(0, max(h - side, 1), (1,))), int(torch.randint(0, max(w - side, 1), (1,)))
            proposal = best[left].clone()
            window = x[left, :, top:top + side, lft:lft + side] + eps * (torch.randint(0, 2, (len(left), c, 1, 1)) * 2 - 1)
            proposal[:, :, top:top + side, lft:lft + side] = window.clamp(0, 1)
            new = margin(model(proposal), y[left])
            improved = new < m[left]
            m[left] = torch.where(improved, new, m[left])
            best[left[improved]] = proposal[improved]
    return m <= 0


def autoattack(model, x, y, eps):
    """AutoAttack standard (linf): APGD-CE, APGD-T, FAB-T (9 targets each), Square (5,000 queries), each on the points
    still robust. Returns the robust accuracy."""
    with torch.no_grad():
        clean = model(x)
    robust = clean.argmax(1) == y
    ranked = clean.argsort(1, descending=True)

    def still():
        return robust.nonzero().squeeze(1)

    index = still()
    _, fooled, _ = apgd_run(model, x[index], y[index], "linf", eps, 100, lambda z, labels=y[index]: F.cross_entropy(z, labels, reduction="none"))
    robust[index[fooled]] = False
    for rank in range(1, 10):
        index = still()
        if len(index):
            _, fooled, _ = apgd_run(model, x[index], y[index], "linf", eps, 100, dlr_targeted(y[index], ranked[index, rank]))
            robust[index[fooled]] = False
    for rank in range(1, 10):
        index = still()
        if len(index):
            robust[index[fab_targeted(model, x[index], y[index], ranked[index, rank], eps, 100)]] = False
    index = still()
    if len(index):
        robust[index[square_linf(model, x[index], y[index], eps, 5000)]] = False
    return robust.float().mean().item()


def timed(run, images_per_call, seconds):
    run()  # warm-up
    start = time.perf_counter()
    calls = 0
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return images_per_call * calls, elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("task")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", help=".npz with x (N,C,H,W) float32 and y; random pixels when absent")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--norm", default="linf")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (training tasks)")
    parser.add_argument("--limit", type=int, help="pgd-all: the first N images of --data")
    parser.add_argument("--torchvision", help="build this net of tests/Evaluator.Tests/Reference/torchvision_models.py (the one --model was exported from)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Random-weight nets (ConvNeXt's layer scale starts at 1e-6) produce denormal floats, which slow PyTorch's CPU
    # kernels several-fold; flushing them favours the reference, so the ratios err on PyTorch's side.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    device = torch.device(args.device)

    if args.torchvision:
        import importlib.util
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "Evaluator.Tests", "Reference", "torchvision_models.py")
        spec = importlib.util.spec_from_file_location("torchvision_models", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        torch.manual_seed(0)
        model = module.build(args.torchvision)[0].to(device)
    else:
        model = build(args.model).to(device)
    # The pure-Python ONNX reader is slow on a 100 MB file; a torchvision net's size is the data's.
    c, h, w = read_npz(args.data)["x"].shape[1:] if args.torchvision else read_onnx(args.model)[2][1:]
    if args.data:
        data = read_npz(args.data)
        x_all, y_all = data["x"], data["y"].long()
    else:
        x_all, y_all = torch.rand(args.batch, c, h, w), torch.randint(0, 10, (args.batch,))
    x_all, y_all = x_all.to(device), y_all.to(device)
    x, y = x_all[: args.batch], y_all[: args.batch]

    if args.task == "forward":
        model.eval()

        def run():
            with torch.no_grad():
                model(x)

        images, seconds = timed(run, len(x), args.seconds)
    elif args.task in ("fgm", "pgd"):
        model.eval()
        steps = 1 if args.task == "fgm" else args.steps
        step_size = args.eps if args.task == "fgm" else args.eps / 4
        images, seconds = timed(lambda: attack(model, x, y, args.norm, args.eps, steps, step_size, args.task == "pgd"), len(x), args.seconds)
    elif args.task == "pgd-all":
        model.eval()
        xs, ys = (x_all[: args.limit], y_all[: args.limit]) if args.limit else (x_all, y_all)
        start = time.perf_counter()
        correct = 0
        for first in range(0, len(xs), args.batch):
            predictions, _ = attack(model, xs[first:first + args.batch], ys[first:first + args.batch], args.norm, args.eps, args.steps, args.eps / 4, True)
            correct += int((predictions == ys[first:first + args.batch]).sum())
        images, seconds = len(xs), time.perf_counter() - start
        print(f"adversarial accuracy {correct / len(xs):.4f}", file=sys.stderr)
    elif args.task == "apgd":
        model.eval()
        images, seconds = timed(lambda: apgd(model, x, y, args.norm, args.eps, args.steps), len(x), args.seconds)
    elif args.task == "autoattack":
        model.eval()
        start = time.perf_counter()
        robust = autoattack(model, x, y, args.eps)
        images, seconds = len(x), time.perf_counter() - start
        print(f"robust accuracy {robust:.4f}", file=sys.stderr)
    elif args.task in ("train-standard", "train-robust"):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3)
        n = len(x_all)

        def epoch():
            order = torch.randperm(n, device=device)
            for start in range(0, n, args.batch):
                index = order[start:start + args.batch]
                xb, yb = x_all[index], y_all[index]
                if args.task == "train-robust":
                    model.eval()
                    _, g = input_gradient(model, xb, yb)
                    xb = (xb + steepest(g, args.eps, args.norm)).detach()
                model.train()
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        def synchronize():
            if device.type == "cuda":
                torch.cuda.synchronize()

        epoch()  # warm-up
        synchronize()
        start = time.perf_counter()
        epoch()
        synchronize()
        images, seconds = n, time.perf_counter() - start
    else:
        raise SystemExit(f"unknown task {args.task}")
    print(json.dumps({"task": args.task, "images_per_second": images / seconds, "seconds": seconds, "images": images}))


if __name__ == "__main__":
    main()
