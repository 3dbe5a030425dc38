"""The OpenAPI description the double checks every request and response against.

The description is vendor/shared/fixtures/github/rest-api-subset.openapi.json (GitHub's own,
trimmed), plus tests/data/openapi-supplement.json: operations the engine needs that the
subset lacks, transcribed from GitHub's REST documentation (see that file's x-source).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import referencing
from openapi_schema_validator import OAS30Validator
from referencing.jsonschema import DRAFT4

from tests.conftest import DATA, SHARED_FIXTURES

SPEC_FILE = SHARED_FIXTURES / "github" / "rest-api-subset.openapi.json"
SUPPLEMENT_FILE = DATA / "openapi-supplement.json"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One documented operation: method, path template, and its description."""

    method: str
    template: str
    regex: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec["operationId"])


class Spec:
    """Operations indexed for matching, and validators for their schemas."""

    def __init__(self, paths: list[Path]) -> None:
        docs = [json.loads(p.read_text()) for p in paths]
        self.doc = docs[0]
        for extra in docs[1:]:
            for path, ops in extra["paths"].items():
                self.doc["paths"].setdefault(path, {}).update(ops)
            for kind, items in extra.get("components", {}).items():
                self.doc["components"].setdefault(kind, {}).update(items)
        _nullable_enums(self.doc["components"].get("schemas", {}))
        self.registry = referencing.Registry().with_resource(
            "urn:github", referencing.Resource.from_contents(self.doc, default_specification=DRAFT4)
        )
        self.operations: list[Operation] = []
        for template, ops in self.doc["paths"].items():
            for method, spec in ops.items():
                if method in METHODS:
                    pattern = self._pattern(template, spec)
                    self.operations.append(
                        Operation(method.upper(), template, re.compile(pattern), spec)
                    )
        # literal segments beat parameters: /pulls/{n}/files before /contents/{path}
        self.operations.sort(key=lambda op: (-op.template.count("/"), op.template.count("{")))

    def _pattern(self, template: str, spec: dict[str, Any]) -> str:
        """A path template as a regex: a parameter is one segment, unless it is marked
        `x-multi-segment` (a file path such as docs/a.md in /contents/{path})."""
        multi = {
            p.get("name")
            for p in (self.resolve(q) for q in spec.get("parameters", []))
            if p.get("x-multi-segment")
        }

        def group(found: re.Match[str]) -> str:
            name = found.group(1)
            return f"(?P<{name}>.+)" if name in multi else f"(?P<{name}>[^/]+)"

        return "^" + re.sub(r"\\\{([a-z_]+)\\\}", group, re.escape(template)) + "$"

    def find(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """(operation, path params, path exists) for a request."""
        path_exists = False
        for op in self.operations:
            found = op.regex.match(path)
            if found:
                path_exists = True
                if op.method == method:
                    return op, found.groupdict(), True
        return None, {}, path_exists

    def resolve(self, node: Any) -> Any:
        """Follow a local $ref."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def validator(self, schema: Any) -> OAS30Validator:
        """A validator for a schema fragment of the description."""
        return _validator(self, json.dumps(schema, sort_keys=True))

    def parameters(self, op: Operation) -> list[dict[str, Any]]:
        """The operation's parameters, resolved."""
        return [self.resolve(p) for p in op.spec.get("parameters", [])]

    def check_request(
        self,
        op: Operation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
        has_body: bool,
    ) -> list[str]:
        """Problems of a request against its operation: parameters and body."""
        problems: list[str] = []
        declared = {p["name"]: p for p in self.parameters(op)}
        for name, value in path_params.items():
            problems += self._check_param(declared.get(name), name, value, "path")
        for name, values in query.items():
            param = declared.get(name)
            if param is None or param.get("in") != "query":
                problems.append(f"undocumented query parameter {name!r}")
                continue
            problems += self._check_param(param, name, values[-1], "query")
        for name, param in declared.items():
            if param.get("in") == "query" and param.get("required") and name not in query:
                problems.append(f"missing required query parameter {name!r}")
        request_body = self.resolve(op.spec.get("requestBody"))
        if request_body is None:
            if has_body:
                problems.append("a body was sent to an operation that takes none")
            return problems
        if not has_body:
            if request_body.get("required"):
                problems.append("the required request body is missing")
            return problems
        schema = request_body.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            problems += [f"body: {e.message}" for e in self.validator(schema).iter_errors(body)]
        return problems

    def _check_param(
        self, param: dict[str, Any] | None, name: str, value: str, where: str
    ) -> list[str]:
        if param is None:
            return [f"undocumented {where} parameter {name!r}"]
        schema = self.resolve(param.get("schema", {}))
        typed: Any = value
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", value):
                return [f"{where} parameter {name!r} must be an integer, got {value!r}"]
            typed = int(value)
        elif schema.get("type") == "boolean":
            typed = value == "true"
        return [
            f"{where} parameter {name!r}: {e.message}"
            for e in self.validator(schema).iter_errors(typed)
        ]

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        """Problems of a JSON response body against the documented schema for its status."""
        response = self.resolve(op.spec.get("responses", {}).get(str(status)))
        if response is None:
            return [f"status {status} is not documented for {op.operation_id}"]
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None or body is None:
            return []
        return [f"response: {e.message}" for e in self.validator(schema).iter_errors(body)]

    def conform(self, op: Operation, status: int, body: Any) -> Any:
        """Fill required properties GitHub's older examples lack, from the response schema."""
        response = self.resolve(op.spec.get("responses", {}).get(str(status)))
        schema = (response or {}).get("content", {}).get("application/json", {}).get("schema")
        return body if schema is None else self._fill(schema, body, 0)

    def _fill(self, schema: Any, value: Any, depth: int) -> Any:
        schema = self.resolve(schema)
        if depth > 12 or not isinstance(schema, dict):
            return value
        for part in schema.get("allOf", []):
            value = self._fill(part, value, depth + 1)
        choices = schema.get("anyOf") or schema.get("oneOf")
        if choices and value is not None:
            fitting = [c for c in choices if not list(self.validator(c).iter_errors(value))]
            return value if fitting else self._fill(choices[0], value, depth + 1)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    value[name] = self.generate(props.get(name, {}), depth + 1)
            for name, sub in props.items():
                if name in value and value[name] is not None:
                    value[name] = self._fill(sub, value[name], depth + 1)
        elif isinstance(value, list) and "items" in schema:
            return [self._fill(schema["items"], item, depth + 1) for item in value]
        return value

    def generate(self, schema: Any, depth: int = 0) -> Any:
        """A minimal value of a schema (for required fields an example lacks)."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > 12:
            return None
        if schema.get("nullable"):
            return None
        if "enum" in schema:
            return schema["enum"][0]
        for key in ("allOf", "anyOf", "oneOf"):
            if schema.get(key):
                return self.generate(schema[key][0], depth + 1)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            return {
                n: self.generate(props.get(n, {}), depth + 1) for n in schema.get("required", [])
            }
        if kind == "array":
            return []
        if kind == "integer":
            return 0
        if kind == "number":
            return 0.0
        if kind == "boolean":
            return False
        formats = {
            "date-time": "2011-01-26T19:01:12Z",
            "uri": "https://github.invalid/",
            "email": "octocat@github.invalid",
        }
        return formats.get(schema.get("format", ""), "")

    def example(self, name: str) -> Any:
        """A deep copy of one of GitHub's example bodies (components/examples)."""
        return copy.deepcopy(self.doc["components"]["examples"][name]["value"])


def _nullable_enums(node: Any) -> None:
    """`nullable: true` beside an `enum` without null: GitHub means null is allowed (a check
    run's `conclusion` is null until it completes), but the validator reads the enum
    strictly, so null is added to such enums."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if node.get("nullable") is True and isinstance(enum, list) and None not in enum:
            node["enum"] = [*enum, None]
        for value in node.values():
            _nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_enums(value)


@cache
def _validator(spec: Spec, schema_json: str) -> OAS30Validator:
    schema = json.loads(schema_json)
    return OAS30Validator(_rebase(schema), registry=spec.registry)


def _rebase(node: Any, key: str = "") -> Any:
    """Make local refs absolute (discriminator mappings included) for the registry."""
    if isinstance(node, str):
        return "urn:github" + node if key in ("$ref", "mapping") and node.startswith("#") else node
    if isinstance(node, dict):
        if "array" in node.get("discriminator", {}).get("mapping", {}):
            # GitHub's contents answer: a directory is an array, which has no `type` property
            # for the discriminator to read; the plain oneOf still tells the four apart
            node = {k: v for k, v in node.items() if k != "discriminator"}
        return {k: _rebase(v, "mapping" if key == "mapping" else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


@cache
def load_spec() -> Spec:
    """The description, loaded once per test session."""
    return Spec([SPEC_FILE, SUPPLEMENT_FILE])
