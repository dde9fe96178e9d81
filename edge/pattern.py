"""google.api.http path templates: parse, match, and compare.

Grammar (from google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

A template compiles to a flat list of segment kinds (literal text, ``*``,
``**``) plus the variables that capture ranges of them. Two templates with the
same :attr:`Template.shape` under the same HTTP method are a conflict; between
different shapes the more specific one wins, segment by segment (a literal
beats ``*``, ``*`` beats ``**``), so routing never depends on the order rules
were registered in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

STAR = "*"
DOUBLE_STAR = "**"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[A-Za-z0-9_.~!$&'()+,;=@-]+$")


class TemplateError(ValueError):
    """A path template that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A captured field: `field_path` receives segments [start, end) (end None = to the end)."""

    field_path: str
    start: int
    end: int | None

    @property
    def multi_segment(self) -> bool:
        return self.end is None or self.end - self.start > 1


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled path template."""

    text: str
    segments: tuple[str, ...]  # literal text, STAR or DOUBLE_STAR
    literal: tuple[bool, ...]  # whether segments[i] is a literal
    variables: tuple[Variable, ...]
    verb: str

    @property
    def shape(self) -> tuple[tuple[str, ...], str]:
        """What two templates must share to collide: the segment kinds and the verb."""
        kinds = tuple(s if lit else ("**" if s == DOUBLE_STAR else "*") for s, lit in zip(
            self.segments, self.literal, strict=True))
        return kinds, self.verb

    @property
    def rank(self) -> tuple[int, ...]:
        """Sort key: smaller is more specific (literal 0, * 1, ** 2), then longer wins."""
        weights = tuple(0 if lit else (2 if s == DOUBLE_STAR else 1) for s, lit in zip(
            self.segments, self.literal, strict=True))
        return (*weights, 3 if self.verb else 4)

    def match(self, parts: list[str], verb: str) -> dict[str, str] | None:
        """Captured variables (URL-decoded) when the split path matches, else None."""
        if verb != self.verb:
            return None
        deep = bool(self.segments) and self.segments[-1] == DOUBLE_STAR and not self.literal[-1]
        if deep:
            if len(parts) < len(self.segments) - 1:
                return None
        elif len(parts) != len(self.segments):
            return None
        for i, (seg, lit) in enumerate(zip(self.segments, self.literal, strict=True)):
            if lit:
                if parts[i] != seg:
                    return None
            elif seg == STAR and (i >= len(parts) or parts[i] == ""):
                return None
        captured: dict[str, str] = {}
        for var in self.variables:
            chunk = parts[var.start : var.end] if var.end is not None else parts[var.start :]
            if var.multi_segment:
                captured[var.field_path] = "/".join(unquote(p).replace("/", "%2F") for p in chunk)
            else:
                captured[var.field_path] = unquote(chunk[0])
        return captured


def split_path(path: str) -> tuple[list[str], str]:
    """Split a request path into segments and a trailing `:verb` (if any).

    A trailing slash is ignored (`/api/v1/agents/` is `/api/v1/agents`).
    """
    if not path.startswith("/"):
        raise TemplateError(f"path must start with '/': {path!r}")
    body = path[1:]
    if body.endswith("/"):
        body = body.rstrip("/")
    parts = body.split("/") if body else []
    verb = ""
    if parts and ":" in parts[-1]:
        head, _, tail = parts[-1].rpartition(":")
        if head and tail:
            parts[-1], verb = head, tail
    return parts, verb


def compile_template(text: str) -> Template:
    """Parse a google.api.http path template."""
    if not text.startswith("/"):
        raise TemplateError(f"{text!r}: a template starts with '/'")
    body, verb = _split_verb(text[1:], text)
    segments: list[str] = []
    literal: list[bool] = []
    variables: list[Variable] = []
    for token in _tokens(body, text):
        if token.startswith("{"):
            inner = token[1:-1]
            field_path, eq, sub = inner.partition("=")
            if not _IDENT.match(field_path):
                raise TemplateError(f"{text!r}: bad field path {field_path!r}")
            start = len(segments)
            for part in (sub.split("/") if eq else [STAR]):
                _add(part, segments, literal, text)
            end: int | None = None if segments[-1] == DOUBLE_STAR else len(segments)
            variables.append(Variable(field_path, start, end))
        else:
            _add(token, segments, literal, text)
    for i, seg in enumerate(segments):
        if seg == DOUBLE_STAR and not literal[i] and i != len(segments) - 1:
            raise TemplateError(f"{text!r}: '**' must be the last segment")
    names = [v.field_path for v in variables]
    if len(names) != len(set(names)):
        raise TemplateError(f"{text!r}: a field is bound twice")
    return Template(text, tuple(segments), tuple(literal), tuple(variables), verb)


def _split_verb(body: str, text: str) -> tuple[str, str]:
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        ch = body[i]
        if ch == "}":
            depth += 1
        elif ch == "{":
            depth -= 1
        elif ch == "/" and depth == 0:
            return body, ""
        elif ch == ":" and depth == 0:
            verb = body[i + 1 :]
            if not verb or not _LITERAL.match(verb):
                raise TemplateError(f"{text!r}: bad verb {verb!r}")
            return body[:i], verb
    return body, ""


def _tokens(body: str, text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "{":
            close = body.find("}", i)
            if close < 0:
                raise TemplateError(f"{text!r}: unclosed '{{'")
            tokens.append(body[i : close + 1])
            i = close + 1
            if i < len(body) and body[i] != "/":
                raise TemplateError(f"{text!r}: a variable must fill a whole segment")
            i += 1
        else:
            slash = body.find("/", i)
            end = len(body) if slash < 0 else slash
            tokens.append(body[i:end])
            i = end + 1
    if not tokens:
        raise TemplateError(f"{text!r}: empty template")
    return tokens


def _add(part: str, segments: list[str], literal: list[bool], text: str) -> None:
    if part in (STAR, DOUBLE_STAR):
        segments.append(part)
        literal.append(False)
    elif part and _LITERAL.match(part):
        segments.append(part)
        literal.append(True)
    else:
        raise TemplateError(f"{text!r}: bad segment {part!r}")
