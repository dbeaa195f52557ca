"""``python -m vig`` / ``vig``: the main job (``--help`` says what it does).

Lists every backend with its status, builds ViG-T, runs a forward and backward pass on one random
batch with each usable backend, and prints, per backend, the max relative error of the logits and
of the input gradients against the reference backend, and the time per step.
"""
from __future__ import annotations

import argparse
import sys

import torch

from . import bench, registry


def _step(model, x):
    x = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    logits = model(x)
    logits.float().square().mean().backward()
    return logits.detach().float(), x.grad.detach().float()


#: the largest max relative error (logits or input gradients, float32 model) a backend may show against the reference
#: backend before the main job fails: the kernels' float32 error is ~1e-6 - 1e-4 (their parity suites), so an error
#: this large is a wrong answer, not rounding.
TOLERANCE = 1e-2


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return n


def _max_rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


_DESCRIPTION = ("The main job: lists every bidirectional-GLA backend with its status, builds a ViG model, runs a "
                "forward and backward pass on one random batch with each usable backend, and prints each one's max "
                "relative error (logits, input gradients) against the reference backend and its time per step; it fails "
                f"(exit status 1) if an error exceeds {TOLERANCE:g}.")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vig", description=_DESCRIPTION)
    from .models import create_model, list_models

    p.add_argument("--model", default="vig_tiny", choices=list_models(), help="model name (default: vig_tiny)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=_positive, default=None, help="default: 32 on a GPU, 2 on the CPU")
    p.add_argument("--img-size", type=_positive, default=224)
    p.add_argument("--backends", default=None,
                   help="comma-separated backends to run (default: every usable one)")
    args = p.parse_args(argv)
    wanted = None
    if args.backends:
        wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
        for b in wanted:
            if b == "auto":
                p.error("--backends: name backends; 'auto' is a policy, not a backend (leave --backends out "
                        "to run every usable one)")
            try:
                registry._check_name(b)
            except ValueError as exc:
                p.error(f"--backends: {exc}")

    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        p.error(f"--device: {exc}")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device is available to PyTorch here (use --device cpu)")
    batch = args.batch if args.batch is not None else (32 if device.type == "cuda" else 2)
    print(f"vig: bidirectional-GLA backends on this machine ({bench.device_name()}, torch {torch.__version__})")
    avail = registry.available_backends()
    width = max(map(len, avail))
    usable = []
    for name, reason in avail.items():
        obj = registry.get_backend_object(name)
        if reason is None and obj is not None:
            dev_reasons = obj.input_reasons(device)
            reason = "; ".join(dev_reasons) if dev_reasons else None
        print(f"  {name:<{width}}  {'usable' if reason is None else 'unavailable: ' + reason}")
        if reason is None:
            usable.append(name)
    if wanted is not None:
        missing = [b for b in wanted if b not in usable and b != "reference"]
        if missing:
            print(f"vig: error: --backends: {', '.join(missing)} cannot run here (see the list above)",
                  file=sys.stderr)
            return 2
        usable = wanted
    if "reference" not in usable:
        usable.insert(0, "reference")

    torch.manual_seed(0)
    model = create_model(args.model, img_size=args.img_size, backend="reference").to(device)
    x = torch.randn(batch, 3, args.img_size, args.img_size, device=device)
    print(f"\n{args.model}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"batch {batch} at {args.img_size} px on {device}, float32")
    ref_logits, ref_grad = _step(model, x)
    rows = []
    for name in usable:
        model.set_backend(name)
        logits, grad = _step(model, x)
        ms = bench.median_ms(lambda: _step(model, x), warmup_ms=0 if device.type == "cpu" else 25,
                             rep_ms=2000 if device.type == "cpu" else 300, device=device)
        rows.append((name, _max_rel(logits, ref_logits), _max_rel(grad, ref_grad), ms))
    print(f"\n{'backend':<{width}}  {'logits max rel err':>18}  {'input-grad max rel err':>22}  {'ms / fwd+bwd step':>17}")
    wrong = []
    for name, e1, e2, ms in rows:
        bad = not (e1 <= TOLERANCE and e2 <= TOLERANCE)  # NaN is wrong too
        print(f"{name:<{width}}  {e1:>18.2e}  {e2:>22.2e}  {ms:>17.1f}" + ("  WRONG" if bad else ""))
        if bad:
            wrong.append(name)
    if wrong:
        print(f"vig: error: {', '.join(wrong)}: max relative error above {TOLERANCE:g} against the reference backend",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
