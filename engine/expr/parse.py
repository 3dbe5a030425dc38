"""The `${{ }}` expression language: splitting templates, tokenizing and parsing.

The grammar is GitHub Actions':
https://docs.github.com/en/actions/reference/workflows-and-actions/expressions
Parsing happens once, when a rule loads; `engine.expr.evaluate` walks the resulting tree. No
Python `eval` and no template engine is involved anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.expr.tree import (
    Binary,
    Call,
    Context,
    Expr,
    Index,
    Literal,
    Not,
    Property,
    Segment,
    Star,
)

MAX_DEPTH = 64  # nesting deeper than this is refused, so hostile input cannot exhaust the stack
MAX_LENGTH = 10_000

class ExpressionError(ValueError):
    """A syntax error, at `offset` characters into the expression text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# --- templates ------------------------------------------------------------------------


def split_template(text: str) -> list[Segment]:
    """Split a string into literal text and parsed `${{ }}` expressions.

    Raises ExpressionError with the offset in `text` for an unclosed or invalid expression.
    """
    segments: list[Segment] = []
    position = 0
    while True:
        start = text.find("${{", position)
        if start < 0:
            if position < len(text):
                segments.append(Segment(text[position:], position))
            return segments
        if start > position:
            segments.append(Segment(text[position:start], position))
        end = _closing_braces(text, start + 3)
        inner = text[start + 3 : end]
        try:
            expr = parse(inner)
        except ExpressionError as exc:
            raise ExpressionError(exc.message, start + 3 + exc.offset) from None
        segments.append(Segment(text[start : end + 2], start, expr))
        position = end + 2


def _closing_braces(text: str, position: int) -> int:
    in_string = False
    i = position
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "'":
                if text.startswith("''", i):
                    i += 2
                    continue
                in_string = False
        elif char == "'":
            in_string = True
        elif text.startswith("}}", i):
            return i
        i += 1
    raise ExpressionError("`${{` is never closed with `}}`", position - 3)


def has_expression(text: str) -> bool:
    """Whether a string holds a `${{` at all (cheap check before splitting)."""
    return "${{" in text


def single_expression(text: str) -> Expr | None:
    """The expression when `text` is exactly one `${{ }}` (keeping the value's type)."""
    stripped = text.strip()
    if not (stripped.startswith("${{") and stripped.endswith("}}")):
        return None
    segments = split_template(stripped)
    if len(segments) == 1 and segments[0].expr is not None:
        return segments[0].expr
    return None


def parse_condition(text: str) -> Expr:
    """Parse an `if:` value, which may be written with or without `${{ }}`."""
    stripped = text.strip()
    if "${{" in stripped:
        single = single_expression(stripped)
        if single is not None:
            return single
        # GitHub treats mixed text in `if:` as a non-empty string, which is always true; we
        # refuse it instead, since it is almost always a mistake.
        raise ExpressionError("`if` mixes text and `${{ }}`; write one expression", 0)
    return parse(text)


# --- tokenizer ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>0x[0-9a-fA-F]+|-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().\[\],*])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[_Token]:
    """Split expression text into tokens."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters", 0)
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            char = text[position]
            hint = "; strings use single quotes" if char == '"' else ""
            if char == "=":
                hint = "; did you mean `==` (a comparison)?"
            if char == "'":
                raise ExpressionError("string is never closed with `'`", position)
            raise ExpressionError(f"unexpected character {char!r}{hint}", position)
        kind = found.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, found.group(), position))
        position = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --- parser ---------------------------------------------------------------------------

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def parse(text: str) -> Expr:
    """Parse one expression (the text between `${{` and `}}`)."""
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "end":
        raise ExpressionError("expression is empty", 0)
    expr = parser.expression(0)
    token = parser.peek()
    if token.kind != "end":
        raise ExpressionError(f"unexpected {_describe(token)} after the expression", token.pos)
    return expr


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.take()
        if token.text != text or token.kind not in ("op",):
            raise ExpressionError(f"expected `{text}`, found {_describe(token)}", token.pos)
        return token

    def expression(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression nests deeper than {MAX_DEPTH} levels", self.peek().pos
            )
        return self._or(depth)

    def _or(self, depth: int) -> Expr:
        left = self._and(depth)
        while self.peek().text == "||" and self.peek().kind == "op":
            token = self.take()
            left = Binary("||", left, self._and(depth), token.pos)
        return left

    def _and(self, depth: int) -> Expr:
        left = self._equality(depth)
        while self.peek().text == "&&" and self.peek().kind == "op":
            token = self.take()
            left = Binary("&&", left, self._equality(depth), token.pos)
        return left

    def _equality(self, depth: int) -> Expr:
        left = self._comparison(depth)
        while self.peek().kind == "op" and self.peek().text in ("==", "!="):
            token = self.take()
            left = Binary(token.text, left, self._comparison(depth), token.pos)
        return left

    def _comparison(self, depth: int) -> Expr:
        left = self._unary(depth)
        while self.peek().kind == "op" and self.peek().text in ("<", "<=", ">", ">="):
            token = self.take()
            left = Binary(token.text, left, self._unary(depth), token.pos)
        return left

    def _unary(self, depth: int) -> Expr:
        token = self.peek()
        if token.kind == "op" and token.text == "!":
            self.take()
            if depth + 1 > MAX_DEPTH:
                raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels", token.pos)
            return Not(self._unary(depth + 1), token.pos)
        return self._postfix(depth)

    def _postfix(self, depth: int) -> Expr:
        expr = self._primary(depth)
        while True:
            token = self.peek()
            if token.kind == "op" and token.text == ".":
                self.take()
                name = self.take()
                if name.kind == "op" and name.text == "*":
                    expr = Star(expr, name.pos)
                elif name.kind == "ident":
                    expr = Property(expr, name.text, name.pos)
                else:
                    raise ExpressionError(
                        f"expected a property name after `.`, found {_describe(name)}", name.pos
                    )
            elif token.kind == "op" and token.text == "[":
                self.take()
                if self.peek().kind == "op" and self.peek().text == "*":
                    self.take()
                    self.expect("]")
                    expr = Star(expr, token.pos)
                else:
                    index = self.expression(depth + 1)
                    self.expect("]")
                    expr = Index(expr, index, token.pos)
            else:
                return expr

    def _primary(self, depth: int) -> Expr:
        token = self.take()
        if token.kind == "number":
            return Literal(_number(token.text), token.pos)
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"), token.pos)
        if token.kind == "ident":
            lowered = token.text.lower()
            if self.peek().kind == "op" and self.peek().text == "(":
                return self._call(token, depth)
            if token.text in ("true", "false"):
                return Literal(token.text == "true", token.pos)
            if token.text == "null":
                return Literal(None, token.pos)
            if lowered in ("nan", "infinity"):
                return Literal(float("nan") if lowered == "nan" else float("inf"), token.pos)
            return Context(token.text, token.pos)
        if token.kind == "op" and token.text == "(":
            inner = self.expression(depth + 1)
            self.expect(")")
            return inner
        if token.kind == "end":
            raise ExpressionError("expression ends where a value was expected", token.pos)
        raise ExpressionError(f"unexpected {_describe(token)}", token.pos)

    def _call(self, name: _Token, depth: int) -> Expr:
        self.take()  # (
        args: list[Expr] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                args.append(self.expression(depth + 1))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    continue
                break
        self.expect(")")
        return Call(name.text.lower(), tuple(args), name.pos)


def _number(text: str) -> float | int:
    if text.lower().startswith("0x"):
        return int(text, 16)
    value = float(text)
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return f"`{token.text}`"
