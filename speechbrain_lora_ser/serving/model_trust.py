"""Refuse a model YAML that would run code outside what a model needs.

A model folder is code: HyperPyYAML builds every ``!new:`` object, calls
every ``!apply:`` function and, through PyYAML-style ``!!python/...`` tags,
can call anything. SpeechBrain's loader runs it all. Before this package
loads an exported model's ``hyperparams.yaml`` or an adapter bank's
``languages/*.yaml``, ``check_yaml`` reads the file with ruamel's composer
(nodes and their tags, nothing constructed, so no code runs) and accepts
only:

* ``!new:`` / ``!name:`` of a callable under an allowed prefix
  (``ALLOWED_PREFIXES``: this package, SpeechBrain, torch, transformers,
  peft);
* ``!apply:`` of the functions the exported model files call
  (``ALLOWED_APPLY``);
* HyperPyYAML's data tags (``!ref``, ``!copy``, ``!tuple``,
  ``!PLACEHOLDER``) and YAML's standard scalar / sequence / mapping tags.

Anything else (``!apply:os.system``, ``!!python/object/apply:...``,
``!include:`` of another file, ``!module:``) is an ``UntrustedModel`` error
naming the file and the line, raised before anything is built. Pass
``trust_code=True`` to the loaders for a model you trust. See
``docs/models.md``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib
import contextvars

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, SequenceNode

ALLOWED_PREFIXES = (
    "speechbrain_lora_ser.",
    "speechbrain.",
    "torch.",
    "transformers.",
    "peft.",
)
#: ``!apply:`` targets the exported model files use (and nothing else).
ALLOWED_APPLY = frozenset(
    {
        "speechbrain_lora_ser.modeling.model.encoder_hidden_size",
        "operator.mul",
    }
)
DATA_TAGS = frozenset({"!ref", "!copy", "!tuple", "!PLACEHOLDER"})
STANDARD_TAG = "tag:yaml.org,2002:"
STANDARD_KINDS = frozenset(
    {"str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary"}
)


_TRUSTED = contextvars.ContextVar("trusted_model", default=False)


class UntrustedModel(ValueError):
    """A model YAML asks to run code outside the allowlist."""


@contextlib.contextmanager
def trusting(trust_code=True):
    """Within the block, ``check_yaml`` passes every file when ``trust_code``.

    Lets ``from_hparams(trust_code=True)`` reach the files a model loads
    itself (an adapter bank's ``languages/*.yaml``).
    """
    token = _TRUSTED.set(bool(trust_code) or _TRUSTED.get())
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def refusal(tag):
    """Why ``tag`` is refused, or None when it is allowed.

    >>> refusal("!new:torch.nn.Linear") is None
    True
    >>> refusal("!apply:os.system")
    'calls os.system, which is not on the allowlist'
    >>> refusal("tag:yaml.org,2002:python/object/apply:os.system")
    'a Python object tag (python/object/apply:os.system)'
    """
    if tag is None or tag in DATA_TAGS:
        return None
    if tag.startswith(STANDARD_TAG):
        kind = tag[len(STANDARD_TAG) :]
        if kind in STANDARD_KINDS:
            return None
        return f"a Python object tag ({kind})"
    kind, _, target = tag.partition(":")
    if kind in ("!new", "!name") and target.startswith(ALLOWED_PREFIXES):
        return None
    if kind == "!apply" and target in ALLOWED_APPLY:
        return None
    if kind in ("!new", "!name", "!apply"):
        return f"calls {target}, which is not on the allowlist"
    return f"the tag {tag} is not allowed in a model file"


def _nodes(node):
    """Every node under ``node`` (keys included), depth first."""
    seen, stack = set(), [node]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.extend((value, key))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


def check_yaml(path, trust_code=False):
    r"""Refuse ``path`` before loading when it would run disallowed code.

    Arguments
    ---------
    path : str
        A model's YAML (``hyperparams.yaml``, ``languages/<lang>.yaml``).
    trust_code : bool
        Skip the check (the model is trusted).

    Raises
    ------
    UntrustedModel
        Naming the file, the line and the tag.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("a: 1\nb: !apply:os.system [ls]\n")
    >>> try:
    ...     check_yaml(path)
    ... except UntrustedModel as error:
    ...     print(str(error).split("hyperparams.yaml, ")[1][:30])
    line 2: calls os.system, which
    >>> check_yaml(path, trust_code=True)
    """
    if trust_code or _TRUSTED.get():
        return
    with open(path, encoding="utf-8") as handle:
        root = YAML(typ="rt").compose(handle)
    for node in _nodes(root):
        tag = getattr(node.tag, "value", node.tag)
        problem = refusal(tag)
        if problem:
            line = node.start_mark.line + 1
            raise UntrustedModel(
                f"{path}, line {line}: {problem}. A model folder is code; "
                "load it with trust_code=True only if you trust its source "
                "(see docs/models.md)"
            )
