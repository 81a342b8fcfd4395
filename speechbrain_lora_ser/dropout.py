"""Dropout that is cheap on a CPU, with PyTorch's semantics.

PyTorch's CPU dropout draws one Bernoulli variable per element from its
Mersenne twister and applies the boolean mask through a type-promoting
multiplication, forward and backward: in a WavLM-large training step on a
2-core CPU, ``aten::bernoulli_`` alone took 18 % of the time (profile in
``benchmarks/NOTES.md``), more in the LoRA stage, whose adapters add a dropout
on each of their inputs. Here one 64-bit draw of the same generator gives two
31-bit uniform integers, the mask is a comparison with ``p * 2**31`` and the
mask is applied by a masked fill. The distribution is the same (each element
kept with probability ``1 - p`` to within ``2**-31``, independently; kept
elements scaled by ``1 / (1 - p)``), the mask is kept as booleans for the
backward pass (as PyTorch does), and ``torch.manual_seed`` and saved RNG states
reproduce it. On other devices, where dropout is a fused kernel,
``torch.nn.functional.dropout`` runs unchanged.

No library provides this: PyTorch's CPU kernel is the one being replaced.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
import torch.nn.functional as F

_RESOLUTION = 2**31


def dropped_mask(shape, p, device=None, generator=None):
    """Boolean mask of the elements to drop, each True with probability ``p``.

    Arguments
    ---------
    shape : sequence of int
        Shape of the mask.
    p : float
        Drop probability, in ``[0, 1]``.
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
    count = 1
    for size in shape:
        count *= size
    # random_() on int64 fills [0, 2**63): 64 bits of the generator, of which
    # each 32-bit half keeps 31 uniform bits once its top bit is cleared.
    words = torch.empty((count + 1) // 2, dtype=torch.int64, device=device)
    words.random_(generator=generator)
    uniform = words.view(torch.int32)[:count].bitwise_and_(_RESOLUTION - 1)
    return (uniform < round(p * _RESOLUTION)).view(tuple(shape))


class _MaskedDropout(torch.autograd.Function):
    """Dropout forward and backward with a boolean mask drawn by ``dropped_mask``."""

    @staticmethod
    def forward(ctx, inputs, p):
        drop = dropped_mask(inputs.shape, p, inputs.device)
        ctx.scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(drop)
        return (inputs * ctx.scale).masked_fill_(drop, 0)

    @staticmethod
    def backward(ctx, grad):
        (drop,) = ctx.saved_tensors
        return (grad * ctx.scale).masked_fill_(drop, 0), None


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
