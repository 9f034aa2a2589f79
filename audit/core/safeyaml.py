"""A YAML loader for files a client or consultant supplies: bounded size, depth and output.

``yaml.safe_load`` is safe against code execution, not against size: a 1.7 KB alias bomb
("billion laughs") builds a structure whose repr is 35 MB (4.4 GB one level deeper), 1,000
nested brackets raise RecursionError, and a repeated key silently replaces the first one
(issue 17). ``load_yaml`` refuses, with a located ``ValidationError``:

* files over ``MAX_YAML_BYTES`` (checked on the size, before reading);
* a value that expands past ``MAX_YAML_NODES`` values through aliases (``*name``), and an
  alias inside the value it names; ``allow_aliases=False`` refuses every alias;
* nesting deeper than ``MAX_YAML_DEPTH`` (checked while composing, before Python recursion);
* a key repeated in one mapping (naming the key and both lines);
* text that is not UTF-8.

Messages quote at most ``EXCERPT_LIMIT`` characters of anything from the file.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from audit.core.exceptions import Problem, ValidationError
from audit.core.identifiers import excerpt

MAX_YAML_BYTES = 1 << 20  # 1 MiB: an engagement.yaml is a few KB
MAX_YAML_DEPTH = 64  # nested mappings/sequences; engagement.yaml needs about 6
MAX_YAML_NODES = 100_000  # values after expanding aliases; an engagement.yaml has hundreds


class _Refused(Exception):
    def __init__(self, message: str, line: int | None, key: str | None = None):
        super().__init__(message)
        self.message, self.line, self.key = message, line, key


def _line(mark) -> int | None:
    return mark.line + 1 if mark is not None else None


class _BoundedComposer(Composer):
    """Composes with a depth bound and counts each node's expanded size (an alias counts the
    whole value it names), refusing as soon as any value expands past ``max_nodes``: the
    billion-laughs bomb stops at its fifth level, after ~10^5 counted values, in microseconds.
    Aliases themselves are fine (``yaml.safe_dump`` writes them for a value used twice)."""

    max_depth = MAX_YAML_DEPTH
    max_nodes = MAX_YAML_NODES
    allow_aliases = True

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            if not self.allow_aliases:
                raise _Refused(f"uses the alias '*{excerpt(event.anchor, 40)}'; aliases are not accepted, "
                               "write the value out in full", _line(event.start_mark))
            target = self.anchors.get(event.anchor)
            if target is not None and getattr(target, "_expanded", None) is None:
                raise _Refused(f"the alias '*{excerpt(event.anchor, 40)}' is inside the value it names "
                               "(a structure that contains itself)", _line(event.start_mark))
            return super().compose_node(parent, index)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > self.max_depth:
                raise _Refused(f"is nested more than {self.max_depth} levels deep",
                               _line(self.peek_event().start_mark))
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node.value, list):
            children = (c for pair in node.value for c in pair) if isinstance(node, MappingNode) else node.value
            size = 1 + sum(getattr(c, "_expanded", 1) for c in children)
        else:
            size = 1
        if size > self.max_nodes:
            raise _Refused(f"a value here expands to more than {self.max_nodes:,} values (through aliases "
                           "'*name' repeated inside each other: an alias bomb?)", _line(node.start_mark))
        node._expanded = size
        return node


class _StrictConstructor(SafeConstructor):
    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # SafeConstructor raises these for a scalar its resolver took for a date or number
            # that is not one ("2025-02-30", "!!int 0x"): say which, and where.
            value = node.value if isinstance(node.value, str) else ""
            raise _Refused(f"value '{excerpt(value, 60)}' cannot be read as {node.tag.rsplit(':', 1)[-1]} "
                           f"({excerpt(str(exc), 80)}); put it in quotes to keep it as text",
                           _line(node.start_mark)) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=False)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeConstructor reports it
                    continue
                if first is not None:
                    raise _Refused(f"key '{excerpt(key, 60)}' appears twice in one mapping (first on line "
                                   f"{first}); the second would silently replace the first",
                                   _line(key_node.start_mark), key=excerpt(key, 60))
                seen[key] = _line(key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _BoundedLoader(Reader, Scanner, Parser, _BoundedComposer, _StrictConstructor, Resolver):
    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)


def _refuse(source: str, message: str, line: int | None = None, hint: str | None = None) -> ValidationError:
    return ValidationError([Problem(source, message, row=line, hint=hint)])


def _read_capped(path: Path, source: str, max_bytes: int) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _refuse(source, "file not found") from None
    except OSError as exc:
        raise _refuse(source, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(source, "is not a regular file")
    if st.st_size > max_bytes:
        raise _refuse(source, f"is {st.st_size:,} bytes; a YAML file may be at most {max_bytes:,} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise _refuse(source, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:  # grew since the stat
        raise _refuse(source, f"is over {max_bytes:,} bytes, the limit for a YAML file")
    return data


def _check_flow_depth(text: str, source: str, max_depth: int) -> None:
    """Refuse more than ``max_depth`` open brackets before the scanner sees them: PyYAML's
    scanner reads a whole flow collection ahead (it may be a key) with work quadratic in its
    depth, so 10,000 brackets take minutes before the composer's depth check is reached.
    Counts every '[' and '{' (in quotes and comments too: conservative, and cheap)."""
    depth = 0
    for m in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
        if depth > max_depth:
            line = text.count("\n", 0, m.start()) + 1
            raise _refuse(source, f"is nested more than {max_depth} levels deep (brackets)", line)


def load_yaml(path_or_text, *, source: str, max_bytes: int = MAX_YAML_BYTES,
              max_depth: int = MAX_YAML_DEPTH, max_nodes: int = MAX_YAML_NODES,
              allow_aliases: bool = True) -> object:
    """Parse YAML from a file (``pathlib.Path``) or from text (``str`` or ``bytes``) with the
    limits above. ``source`` names the file in messages. Raises ``ValidationError`` (one located
    ``Problem``; the line is 1-based) for anything refused or not valid YAML."""
    if isinstance(path_or_text, Path):
        data = _read_capped(path_or_text, source, max_bytes)
    elif isinstance(path_or_text, (bytes, bytearray)):
        data = bytes(path_or_text)
    elif isinstance(path_or_text, str):
        data = None
        text = path_or_text
        if len(text) > max_bytes:
            raise _refuse(source, f"is {len(text):,} characters; a YAML file may be at most {max_bytes:,} bytes")
    else:
        raise TypeError("load_yaml takes a pathlib.Path, str or bytes")
    if data is not None:
        if len(data) > max_bytes:
            raise _refuse(source, f"is {len(data):,} bytes; a YAML file may be at most {max_bytes:,} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise _refuse(source, f"is not UTF-8 text (bad byte 0x{data[e.start]:02x})", line,
                          "save it as UTF-8") from None
    _check_flow_depth(text, source, max_depth)
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as e:  # a control character: raised before any parsing
        line = text.count("\n", 0, e.position) + 1
        raise _refuse(source, f"holds the control character U+{e.character if isinstance(e.character, int) else 0:04X}"
                      ", which YAML does not allow", line, "delete it; most editors do not show it") from None
    loader.max_depth, loader.max_nodes, loader.allow_aliases = max_depth, max_nodes, allow_aliases
    try:
        return loader.get_single_data()
    except _Refused as r:
        raise ValidationError([Problem(source, r.message, row=r.line)]) from None
    except ConstructorError as e:
        raise _refuse(source, f"is not valid YAML: {excerpt(e.problem or e, 120)}", _line(e.problem_mark)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or e
        raise _refuse(source, f"is not valid YAML: {excerpt(str(problem), 120)}", _line(mark)) from None
    except RecursionError:  # a safety net: the depth bound above should come first
        raise _refuse(source, f"is nested too deeply (more than {max_depth} levels)") from None
    finally:
        loader.dispose()
