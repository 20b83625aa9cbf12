#!/usr/bin/env python3
"""PyTorch reference for RobustEval's benchmarks: the same nets, weights, batch sizes and loops.

Run by bench/run.sh through the C# harness, which alternates it with RobustEval and prints the ratios.
Prints one JSON object: {"task": ..., "images_per_second": ..., "seconds": ..., "images": ...}.

Tasks:
  forward          model(x) without gradients
  fgm              clean forward+backward, one step, clip, final forward+backward (prediction and FOSC):
                   the work `evaluator attack --attack fgm` does per batch
  pgd              random start, K projected steps, final forward+backward (as `--attack pgd --steps K`)
  train-standard   one training epoch (SGD, momentum 0.9, weight decay) on the given data
  train-robust     one epoch of Shaham et al.'s Algorithm 1 (l-inf step computed in eval mode, update in train mode)
"""
import argparse
import json
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F


class Standardize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


def build(onnx_path):
    """The exported net as a torch.nn.Sequential with the same weights, read from the ONNX graph."""
    model = onnx.load(onnx_path)
    weights = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "Sub":
            mean, std = weights[node.input[1]], None
        elif op == "Div":
            std = weights[node.input[1]]
            layers.append(Standardize(mean, std))
        elif op == "Conv":
            w = weights[node.input[1]]
            conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=tuple(attrs.get("strides", [1, 1])),
                             padding=tuple(attrs.get("pads", [0, 0, 0, 0])[:2]))
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(weights[node.input[2]])
            layers.append(conv)
        elif op == "BatchNormalization":
            scale = weights[node.input[1]]
            bn = nn.BatchNorm2d(len(scale), eps=attrs.get("epsilon", 1e-5)) if _rank_hint(layers) else nn.BatchNorm1d(len(scale), eps=attrs.get("epsilon", 1e-5))
            bn.weight.data.copy_(scale)
            bn.bias.data.copy_(weights[node.input[2]])
            bn.running_mean.copy_(weights[node.input[3]])
            bn.running_var.copy_(weights[node.input[4]])
            layers.append(bn)
        elif op == "Relu":
            layers.append(nn.ReLU())
        elif op == "MaxPool":
            layers.append(nn.MaxPool2d(tuple(attrs["kernel_shape"]), stride=tuple(attrs["strides"])))
        elif op == "Flatten":
            layers.append(nn.Flatten())
        elif op == "Gemm":
            w = weights[node.input[1]]
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight.data.copy_(w)
            linear.bias.data.copy_(weights[node.input[2]])
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
        ranks = torch.arange(1, flat.shape[1] + 1, dtype=flat.dtype).unsqueeze(0)
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
    return sample.view_as(like)


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = build(args.model)
    shape = next(i for i in onnx.load(args.model).graph.input).type.tensor_type.shape.dim
    c, h, w = (d.dim_value for d in shape[1:])
    if args.data:
        data = np.load(args.data)
        x_all, y_all = torch.from_numpy(data["x"]), torch.from_numpy(data["y"]).long()
    else:
        x_all, y_all = torch.rand(args.batch, c, h, w), torch.randint(0, 10, (args.batch,))
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
    elif args.task in ("train-standard", "train-robust"):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3)
        n = len(x_all)

        def epoch():
            order = torch.randperm(n)
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

        epoch()  # warm-up
        start = time.perf_counter()
        epoch()
        images, seconds = n, time.perf_counter() - start
    else:
        raise SystemExit(f"unknown task {args.task}")
    print(json.dumps({"task": args.task, "images_per_second": images / seconds, "seconds": seconds, "images": images}))


if __name__ == "__main__":
    main()
