"""Dropout that is cheap on a CPU, with PyTorch's semantics.

PyTorch's CPU dropout draws one Bernoulli variable per element from its
Mersenne twister and applies the boolean mask through a type-promoting
multiplication, forward and backward: in a WavLM-large training step on a
2-core CPU, ``aten::bernoulli_`` alone took 18 % of the time (profile in
``benchmarks/NOTES.md``), more in the LoRA stage, whose adapters add a dropout
on each of their inputs.

Here the dropped elements are drawn as a Bernoulli process: the gaps between
successive dropped positions are independent geometric variables, so a
dropout of probability p needs about ``p * n`` draws of the same generator
instead of ``n`` (p = 0.05 for the paper's adapters, 0.1 in the encoder).
Above ``p = 0.25``, where that stops paying, one 64-bit draw gives two 31-bit
uniform integers compared with ``p * 2**31``. Either way the distribution is
PyTorch's (each element dropped independently with probability p; kept
elements scaled by ``1 / (1 - p)``), the gradient goes through the same
elements, and ``torch.manual_seed`` and saved RNG states reproduce a draw. On
other devices, where dropout is a fused kernel,
``torch.nn.functional.dropout`` runs unchanged.

No library provides this: PyTorch's CPU kernel is the one being replaced.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import torch
import torch.nn.functional as F

_RESOLUTION = 2**31
#: Largest drop probability drawn through geometric gaps.
GAPS_UP_TO = 0.25


def dropped_positions(count, p, device=None, generator=None):
    """Sorted flat indices of the dropped elements among ``count``.

    Each element is dropped independently with probability ``p``.

    Arguments
    ---------
    count : int
        Number of elements.
    p : float
        Drop probability, in ``[0, 1)``.
    device : torch.device, optional
        Where to draw.
    generator : torch.Generator, optional
        Random generator (default: the global one of ``device``).

    Returns
    -------
    torch.Tensor
        ``int64`` indices, increasing.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> positions = dropped_positions(1_000_000, 0.05)
    >>> round(len(positions) / 1_000_000, 3), bool((positions.diff() > 0).all())
    (0.05, True)
    """
    if p <= 0.0 or count == 0:
        return torch.empty(0, dtype=torch.int64, device=device)
    if p > GAPS_UP_TO:
        mask = _uniform_bits(count, device, generator) < round(p * _RESOLUTION)
        return mask.nonzero().squeeze(1)
    # enough gaps to pass the end with overwhelming probability; more if not
    expected = count * p
    draws = int(expected + 6 * math.sqrt(expected) + 16)
    parts, end = [], -1
    while end < count:
        gaps = torch.empty(draws, dtype=torch.int64, device=device)
        gaps.geometric_(p, generator=generator)  # trials to a success: 1, 2, ...
        positions = torch.cumsum(gaps, 0).add_(end)
        parts.append(positions)
        end = int(positions[-1])
    positions = torch.cat(parts) if len(parts) > 1 else parts[0]
    return positions[: int(torch.searchsorted(positions, count))]


def _uniform_bits(count, device, generator):
    """``count`` independent uniform 31-bit integers (``int32``)."""
    # random_() on int64 fills [0, 2**63): 64 bits of the generator, of which
    # each 32-bit half keeps 31 uniform bits once its top bit is cleared.
    words = torch.empty((count + 1) // 2, dtype=torch.int64, device=device)
    words.random_(generator=generator)
    return words.view(torch.int32)[:count].bitwise_and_(_RESOLUTION - 1)


def dropped_mask(shape, p, device=None, generator=None):
    """Boolean mask of the elements to drop, each True with probability ``p``.

    Arguments
    ---------
    shape : sequence of int
        Shape of the mask.
    p : float
        Drop probability, in ``[0, 1)``.
    device : torch.device, optional
        Where to build the mask.
    generator : torch.Generator, optional
        Random generator (default: the global one of ``device``).

    Returns
    -------
    torch.Tensor
        ``bool`` tensor of ``shape``.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> mask = dropped_mask((1000, 1000), 0.05)
    >>> mask.shape, mask.dtype, round(mask.float().mean().item(), 3)
    (torch.Size([1000, 1000]), torch.bool, 0.05)
    """
    count = math.prod(shape)
    positions = dropped_positions(count, p, device, generator)
    mask = torch.zeros(count, dtype=torch.bool, device=device)
    return mask.index_fill_(0, positions, True).view(tuple(shape))


class _MaskedDropout(torch.autograd.Function):
    """Dropout forward and backward on the positions of ``dropped_positions``."""

    @staticmethod
    def forward(ctx, inputs, p):
        positions = dropped_positions(inputs.numel(), p, inputs.device)
        ctx.scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(positions)
        output = inputs.contiguous() * ctx.scale
        output.view(-1).index_fill_(0, positions, 0)
        return output

    @staticmethod
    def backward(ctx, grad):
        (positions,) = ctx.saved_tensors
        grad_inputs = grad.contiguous() * ctx.scale
        grad_inputs.view(-1).index_fill_(0, positions, 0)
        return grad_inputs, None


def dropout(inputs, p=0.5, training=True):
    """``torch.nn.functional.dropout``, with a faster random mask on a CPU.

    Example
    -------
    >>> x = torch.ones(4, 8)
    >>> torch.equal(dropout(x, 0.5, training=False), x)
    True
    >>> _ = torch.manual_seed(0)
    >>> sorted(dropout(x, 0.5).unique().tolist())
    [0.0, 2.0]
    """
    if not training or p == 0.0:
        return inputs
    if inputs.device.type != "cpu" or p >= 1.0:
        return F.dropout(inputs, p, training)
    return _MaskedDropout.apply(inputs, p)


class Dropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` whose CPU mask is drawn by ``dropped_mask``.

    Same parameters and state as ``torch.nn.Dropout`` (none), so a module
    can switch class in place (``use_fast_dropout``).

    Example
    -------
    >>> layer = Dropout(0.1).eval()
    >>> torch.equal(layer(torch.ones(3)), torch.ones(3))
    True
    """

    def forward(self, inputs):
        """Apply dropout (in training mode)."""
        if self.inplace:
            return F.dropout(inputs, self.p, self.training, inplace=True)
        return dropout(inputs, self.p, self.training)


def use_fast_dropout(model):
    """Switch every ``torch.nn.Dropout`` of ``model`` to ``Dropout`` (in place).

    Arguments
    ---------
    model : torch.nn.Module
        Any module.

    Returns
    -------
    int
        The number of modules switched.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1))
    >>> use_fast_dropout(model), isinstance(model[1], Dropout)
    (1, True)
    """
    switched = 0
    for module in model.modules():
        if type(module) is torch.nn.Dropout:
            module.__class__ = Dropout
            switched += 1
    return switched
