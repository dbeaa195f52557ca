"""vig_kernels: the fused kernel backends of vig's bidirectional GLA (one subpackage each)."""
