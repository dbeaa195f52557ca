"""vig_reference: the pure-PyTorch bidirectional GLA, the oracle every backend is judged against.

* :func:`naive_bidirectional_gla`: two token-by-token recurrences (run it in float64).
* :func:`chunked_bidirectional_gla`: the chunked parallel form (matrix products per chunk, a
  state pass across chunks), differentiable, fast enough for CPU training.
"""
from .chunked import chunked_bidirectional_gla
from .naive import naive_bidirectional_gla

__all__ = ["naive_bidirectional_gla", "chunked_bidirectional_gla"]
