"""One small fwd+bwd of the TileLang backend, for compute-sanitizer memcheck on the GPU."""
import torch

from vig_kernels.tilelang import TileLangBackend

be = TileLangBackend()
for L in (65, 300):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = [torch.randn(2, L, 3, d, device="cuda", generator=g).to(torch.bfloat16) for d in (32, 32, 64)]
    gates = [torch.nn.functional.logsigmoid(torch.randn(2, L, 3, 32, device="cuda", generator=g)) / 16
             for _ in range(2)]
    xs = [t.requires_grad_(True) for t in x + gates]
    o = be.apply(*xs, 32 ** -0.5)
    o.backward(torch.randn_like(o))
    torch.cuda.synchronize()
    print("memcheck case done", L, o.float().abs().sum().item())
