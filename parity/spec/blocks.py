"""Blocks from layer names: where a model names its layers by block, the torch port nests them so.

Keras' applications name each layer after the block it belongs to (``conv2_block1_1_conv``,
``block_3_expand_BN``, ``expanded_conv_project``, DenseNet's ``conv3_block2_0_bn``); a person porting
such a model by hand keeps those blocks as submodules (``self.conv2.block1.conv1``), as torchvision's
ResNet does (``layer1[0].conv1``). ``attributes(names)`` derives the nesting from the names alone:

- a name is split into tokens at ``_``, ``.`` and ``/``; a number joins the word before it when
  that word has no digit of its own (``block_3``, ``Conv_1``, ``features_0``; ``block1`` stays);
- layers sharing a first token form a block when there are two or more of them, none is named by
  the token alone (``Conv1`` and ``Conv1_relu`` are two layers, not a block and its member) and the
  token is a Python name, and their names differ by more than Keras' counter (``max_pooling2d``
  and ``max_pooling2d_1`` are two layers of one type, not a block ``max``); within a block the same
  rule applies to the rest of the name;
- a block holding exactly one block is merged into it (``expanded`` + ``conv`` -> ``expanded_conv``);
- a member named by a number and a word is the word then the number (``1_conv`` -> ``conv1``,
  ``0_bn`` -> ``bn0``), as torchvision names them (``0_conv1`` -> ``conv1_0``).

Each layer's path is its attributes from the model down (``("conv2", "block1", "conv1")``).
Layers outside every block keep their whole name (``identifier(name)``). Where two members of one
block would get the same attribute, the names are not nested at all: every layer keeps its name.
"""

from __future__ import annotations

import keyword
import re

# Attribute names an nn.ModuleDict already has (a member named so would be shadowed by the method).
_TAKEN = {
    "keys", "items", "values", "update", "pop", "clear", "training", "forward", "cuda", "cpu", "float",
    "double", "half", "eval", "train", "type", "to", "apply", "children", "modules", "parameters",
    "buffers", "state_dict", "add_module", "register_module", "get_submodule", "zero_grad",
}  # fmt: skip

_UID = re.compile(r"_\d+$")  # Keras' automatic names: max_pooling2d, max_pooling2d_1

Tree = dict[str, "str | Tree"]  # attribute -> a layer's name, or a block


def tokens(name: str) -> list[str]:
    """``block_3_expand_BN`` -> ``["block_3", "expand", "BN"]``; ``conv2_block1_1_conv`` -> ``["conv2", "block1", "1", "conv"]``."""
    out: list[str] = []
    for part in re.split(r"[_./]", name):
        if not part:
            continue
        if part.isdigit() and out and not any(c.isdigit() for c in out[-1]):
            out[-1] = f"{out[-1]}_{part}"
        else:
            out.append(part)
    return out


def _member(rest: list[str]) -> str:
    """A member's attribute from the rest of its name: ``["1", "conv"]`` -> ``conv1``."""
    if len(rest) > 1 and rest[0].isdigit():
        joint = "_" if rest[-1][-1].isdigit() else ""  # conv1 of block 0: conv1_0, not conv10
        rest = [*rest[1:-1], rest[-1] + joint + rest[0]]
    text = "_".join(rest)
    if not text.isidentifier() or keyword.iskeyword(text) or text in _TAKEN:
        text = f"layer_{text}"
    return text


def _tree(entries: list[tuple[list[str], str]], top: bool, identifier) -> Tree | None:
    """The members of one level; None where two would share an attribute."""
    buckets: dict[str, list[tuple[list[str], str]]] = {}
    for rest, name in entries:
        buckets.setdefault(rest[0], []).append((rest, name))
    tree: Tree = {}
    for key, bucket in buckets.items():
        is_block = (
            len(bucket) >= 2
            and all(len(rest) > 1 for rest, _ in bucket)
            and len({_UID.sub("", "_".join(rest[1:])) for rest, _ in bucket}) > 1
            and key.isidentifier()
            and not keyword.iskeyword(key)
            and key not in _TAKEN
        )
        if is_block:
            sub = _tree([(rest[1:], name) for rest, name in bucket], False, identifier)
            if sub is None:
                return None
            while len(sub) == 1 and isinstance(next(iter(sub.values())), dict):  # expanded + conv -> expanded_conv
                ((inner, sub),) = sub.items()
                key = f"{key}_{inner}"
            members = [(key, sub)]
        else:
            members = [(identifier(name) if top else _member(rest), name) for rest, name in bucket]
        for attribute, member in members:
            if attribute in tree:
                return None
            tree[attribute] = member
    return tree


def attributes(names: list[str], identifier) -> dict[str, tuple[str, ...]]:
    """Every layer's path of attributes (``{"conv2_block1_1_conv": ("conv2", "block1", "conv1")}``);
    ``identifier`` makes a top-level layer's whole name a Python name."""
    tree = _tree([(tokens(name) or [name], name) for name in names], True, identifier) if names else {}
    if tree is None:
        return {name: (identifier(name),) for name in names}
    paths: dict[str, tuple[str, ...]] = {}

    def walk(level: Tree, prefix: tuple[str, ...]) -> None:
        for attribute, member in level.items():
            if isinstance(member, dict):
                walk(member, (*prefix, attribute))
            else:
                paths[member] = (*prefix, attribute)

    walk(tree, ())
    return paths


def tree_of(paths: dict[str, tuple[str, ...]]) -> Tree:
    """The nesting back from the paths, in the order of the layers."""
    tree: Tree = {}
    for name, path in paths.items():
        level = tree
        for attribute in path[:-1]:
            level = level.setdefault(attribute, {})
        level[path[-1]] = name
    return tree
