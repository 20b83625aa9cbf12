"""Exports small torchvision classifiers to ONNX and computes PyTorch's input gradients for them.

Used by TorchvisionModelTests as the independent reference: the models are torchvision's own architectures
(random weights, no download), made small so a test runs in seconds, exported by PyTorch's exporter at the opset
asked for. Opsets above what this exporter writes (17) are reached by raising the opset import and moving the
axes of Reduce* ops from attributes to inputs (the only change between 17 and 21 these graphs touch).

usage: torchvision_models.py NAME OPSET OUT_DIR [--dynamic] [--images N]
writes OUT_DIR/model.onnx, OUT_DIR/data.npz (x in [0.2, 0.8], y = the model's own predictions) and
OUT_DIR/reference.npz (gradient of the summed cross-entropy, FGSM at eps 8/255 clipped to [0, 1]).
"""
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import helper, numpy_helper
from torchvision.models.convnext import CNBlockConfig
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer


def build(name):
    if name == "vit":
        model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
        # torchvision starts the head at zero, which would make every input gradient zero.
        torch.nn.init.normal_(model.heads.head.weight, std=0.5)
        return model, 32
    if name == "swin":
        return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4], num_classes=10), 32
    if name == "convnext":
        return torchvision.models.convnext.ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 2)], num_classes=10), 32
    # Full-size nets for bench/ (ImageNet shapes, 1,000 classes): DeiT-S's ViT-small and torchvision's ConvNeXt-small.
    if name == "vit-small":
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536, num_classes=1000)
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        return model, 224
    if name == "convnext-small":
        return torchvision.models.convnext_small(), 224
    if name == "resnet-softmax":
        # Shaped like PaddleOCR's direction classifier: inputs normalised to [-1, 1] (mean 0.5, std 0.5 on [0, 1]
        # pixels), a softmax output, exported at an old opset with dynamic height and width.
        return torchvision.models.resnet18(num_classes=4), 32
    if name == "mobilenet":
        return torchvision.models.mobilenet_v3_small(num_classes=10), 32
    if name == "resnet":
        return torchvision.models.resnet18(num_classes=10), 32
    if name == "mobilenet_v2":
        # bench/ only: the depthwise net of issue 18's measurements.
        return torchvision.models.mobilenet_v2(num_classes=10), 32
    if name == "efficientnet":
        return torchvision.models.efficientnet_b0(num_classes=10), 32
    raise SystemExit(f"unknown model {name}")


def raise_opset(path, opset):
    model = onnx.load(path)
    graph = model.graph
    for node in graph.node:
        if node.op_type.startswith("Reduce") and node.op_type != "ReduceSum":
            axes = [a for a in node.attribute if a.name == "axes"]
            if axes:
                name = node.name + "_axes" if node.name else node.output[0] + "_axes"
                graph.initializer.append(numpy_helper.from_array(np.array(axes[0].ints, dtype=np.int64), name))
                node.attribute.remove(axes[0])
                node.input.append(name)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    model.ir_version = 9 if opset <= 20 else 10 if opset <= 22 else 11
    onnx.save(model, path)


def main():
    name, opset, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dynamic = "--dynamic" in sys.argv
    torch.manual_seed(0)
    model, size = build(name)
    model.eval()
    generator = torch.Generator().manual_seed(1)
    images = int(sys.argv[sys.argv.index("--images") + 1]) if "--images" in sys.argv else 8
    x = 0.2 + 0.6 * torch.rand(images, 3, size, size, generator=generator)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    # resnet-softmax: the file holds normalised inputs → softmax; the attacked function is pixels → logits.
    normalised = name == "resnet-softmax"
    exported = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)) if normalised else model
    # Eval mode for the wrapper too: the exporter restores the wrapper's mode afterwards, and with it the model's.
    exported.eval()
    logits = (lambda pixels: model((pixels - 0.5) / 0.5)) if normalised else model
    with torch.no_grad():
        y = logits(x).argmax(1)
    torch.onnx.export(exported, x[:1], f"{out}/model.onnx", opset_version=min(opset, 17), input_names=["input"],
                      output_names=["scores"], dynamic_axes={"input": axes, "scores": {0: "batch"}})
    if opset > 17:
        raise_opset(f"{out}/model.onnx", opset)
    x.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(logits(x), y, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, x)
    fgsm = torch.clamp(x + (8 / 255) * gradient.sign(), 0, 1)
    np.savez(f"{out}/data.npz", x=x.detach().numpy().astype(np.float32), y=y.numpy().astype(np.int64))
    np.savez(f"{out}/reference.npz", gradient=gradient.numpy().astype(np.float32), fgsm=fgsm.detach().numpy().astype(np.float32))


if __name__ == "__main__":
    main()
