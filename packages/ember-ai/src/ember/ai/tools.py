"""Tools an LLM can call: ``ToolRegistry``, ``ToolCall``, ``ToolResult``.

A tool is a Python function. Its JSON schema comes from its type hints (or
from explicit ``ParameterSchema``s), its descriptions from its docstring. The
registry renders the schemas in the OpenAI and Anthropic request shapes and
runs calls: ``execute`` validates the arguments against the schema, converts
them to the hinted Python types, runs the tool (sync ones in a worker thread)
under a timeout, and always answers with a ``ToolResult`` -- a failure is a
result with ``is_error=True`` that the model can read, never an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, overload

import anyio
import anyio.to_thread

logger = logging.getLogger("ember.ai.tools")

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}


class ToolError(Exception):
    """Raise inside a tool to report a failure whose message the model may see.

    Any other exception is reported to the model without its message, since
    that could leak internals (paths, SQL, credentials in URLs).
    """


@dataclass(frozen=True, slots=True)
class ParameterSchema:
    """One parameter described by hand: ``ParameterSchema("query", "string", "…")``.

    ``type`` is a JSON-schema type. ``enum`` restricts the values, ``items``
    gives the schema of an array's items, and ``schema`` adds any other
    JSON-schema keywords.
    """

    name: str
    type: str
    description: str = ""
    required: bool = True
    enum: Sequence[Any] | None = None
    items: Mapping[str, Any] | None = None
    schema: Mapping[str, Any] | None = None

    def to_json_schema(self) -> dict[str, Any]:
        if self.type not in _JSON_TYPES:
            raise ValueError(
                f"parameter {self.name!r} has type {self.type!r}; use one of "
                f"{', '.join(sorted(_JSON_TYPES))}"
            )
        result: dict[str, Any] = {"type": self.type}
        if self.description:
            result["description"] = self.description
        if self.enum is not None:
            result["enum"] = list(self.enum)
        if self.items is not None:
            result["items"] = dict(self.items)
        if self.schema:
            result.update(self.schema)
        return result


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run a tool. ``arguments`` is a dict or a JSON string
    (OpenAI sends a string; Anthropic a dict)."""

    id: str
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)

    def arguments_json(self) -> str:
        """The arguments as the JSON string the OpenAI API carries."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call produced, as text for the model."""

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Tool:
    """A registered tool."""

    name: str
    description: str
    function: Callable[..., Any]
    parameters: dict[str, Any]  # a JSON schema of type object
    timeout: float | None
    converters: Mapping[str, Callable[[Any], Any]]

    def to_openai_spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def to_anthropic_spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.parameters}


class _ArgumentError(Exception):
    pass


class ToolRegistry:
    """A set of tools with unique names.

    ``default_timeout`` (seconds) bounds every call unless a tool sets its own
    ``timeout``; ``None`` means no limit.
    """

    def __init__(self, *, default_timeout: float | None = 30.0) -> None:
        self.default_timeout = default_timeout
        self._tools: dict[str, Tool] = {}

    # ------------------------------------------------------------ registration

    @overload
    def register(self, function: F, /) -> F: ...

    @overload
    def register(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[ParameterSchema] | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[ParameterSchema] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Register a function as a tool; usable as ``@register`` or ``@register(...)``.

        The function is returned unchanged, so it stays callable directly.
        """

        def decorator(fn: F) -> F:
            self.add(fn, name=name, description=description, parameters=parameters, timeout=timeout)
            return fn

        return decorator(function) if function is not None else decorator

    def add(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[ParameterSchema] | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Register ``function`` and return its ``Tool``."""
        tool_name = str(name or getattr(function, "__name__", ""))
        if not _NAME.match(tool_name):
            raise ValueError(
                f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-' "
                "(what the OpenAI and Anthropic APIs accept)"
            )
        if tool_name in self._tools:
            raise ValueError(f"a tool named {tool_name!r} is registered already")
        summary, param_docs = parse_docstring(inspect.getdoc(function) or "")
        if parameters is not None:
            schema, converters = _explicit_schema(function, parameters)
        else:
            schema, converters = _schema_from_hints(function, param_docs)
        tool = Tool(
            name=tool_name,
            description=description if description is not None else summary,
            function=function,
            parameters=schema,
            timeout=timeout,
            converters=converters,
        )
        self._tools[tool_name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"<ToolRegistry {sorted(self._tools)}>"

    # ------------------------------------------------------------ specs

    def to_openai_specs(self) -> list[dict[str, Any]]:
        """The ``tools`` array of an OpenAI Chat Completions request."""
        return [tool.to_openai_spec() for tool in self._tools.values()]

    def to_anthropic_specs(self) -> list[dict[str, Any]]:
        """The ``tools`` array of an Anthropic Messages request."""
        return [tool.to_anthropic_spec() for tool in self._tools.values()]

    # ------------------------------------------------------------ execution

    async def execute(self, call: ToolCall) -> ToolResult:
        """Run one call. Never raises (except on cancellation): every failure is
        a ``ToolResult`` with ``is_error=True`` and a message for the model."""
        tool = self._tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(self._tools)) or "none"
            return _error(call, f"Unknown tool {call.name!r}. Available tools: {available}.")
        try:
            kwargs = _bind(tool, call.arguments)
        except _ArgumentError as exc:
            return _error(call, f"Invalid arguments for tool {tool.name!r}: {exc}")
        timeout = tool.timeout if tool.timeout is not None else self.default_timeout
        try:
            with anyio.move_on_after(timeout) as scope:
                value = await _run(tool.function, kwargs)
            if scope.cancelled_caught:
                return _error(call, f"Tool {tool.name!r} timed out after {timeout:g} seconds.")
        except ToolError as exc:
            return _error(call, str(exc) or f"Tool {tool.name!r} failed.")
        except Exception:
            logger.exception("tool %r raised", tool.name)
            return _error(call, f"Tool {tool.name!r} failed with an internal error.")
        try:
            content = render_result(value)
        except (TypeError, ValueError):
            logger.exception("tool %r returned a value that cannot be rendered", tool.name)
            return _error(call, f"Tool {tool.name!r} returned a result that is not JSON.")
        return ToolResult(call.id, tool.name, content)

    async def execute_many(self, calls: Iterable[ToolCall]) -> list[ToolResult]:
        """Run several calls concurrently; results come back in the calls' order."""
        return list(await asyncio.gather(*(self.execute(call) for call in calls)))


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, call.name, message, is_error=True)


async def _run(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(**kwargs)
    # A sync tool may block (files, sync SDKs): keep it off the event loop. On
    # timeout the thread is abandoned; it finishes in the background.
    result = await anyio.to_thread.run_sync(
        functools.partial(function, **kwargs), abandon_on_cancel=True
    )
    if inspect.isawaitable(result):
        return await result
    return result


def render_result(value: Any) -> str:
    """A tool's return value as the text the model reads: strings as they are,
    everything else as JSON (dataclasses and enums included)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ---------------------------------------------------------------- argument binding


def _bind(tool: Tool, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise _ArgumentError(f"the arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(arguments, Mapping):
        raise _ArgumentError("the arguments must be a JSON object")
    schema = tool.parameters
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", ()) if name not in arguments]
    if missing:
        raise _ArgumentError(f"missing required argument(s): {', '.join(missing)}")
    extra = sorted(set(arguments) - set(properties))
    if extra:
        raise _ArgumentError(
            f"unexpected argument(s): {', '.join(extra)}; "
            f"accepted: {', '.join(properties) or 'none'}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in arguments.items():
        validate(value, properties[name], name)
        convert = tool.converters.get(name)
        kwargs[name] = convert(value) if convert is not None else value
    return kwargs


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict, Mapping),
    "null": (type(None),),
}


def _type_matches(value: Any, json_type: str) -> bool:
    if isinstance(value, bool) and json_type in ("integer", "number"):
        return False  # JSON true is not a number, though Python's bool is an int
    if json_type == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _PYTHON_TYPES.get(json_type, (object,)))


def validate(value: Any, schema: Mapping[str, Any], where: str) -> None:
    """Check ``value`` against the JSON-schema subset tools use; raise with a
    message that names the offending argument path."""
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, where)
                return
            except _ArgumentError as exc:
                errors.append(str(exc))
        raise _ArgumentError(errors[0] if len(errors) == 1 else f"{where} has the wrong type")
    expected = schema.get("type")
    if expected is not None:
        options = expected if isinstance(expected, list) else [expected]
        if not any(_type_matches(value, t) for t in options):
            raise _ArgumentError(
                f"{where} must be {' or '.join(options)}, not {_json_type_name(value)}"
            )
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        raise _ArgumentError(f"{where} must be one of {allowed}")
    if isinstance(value, list | tuple) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise _ArgumentError(f"{where}.{name} is required")
        additional = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                validate(item, properties[key], f"{where}.{key}")
            elif additional is False:
                raise _ArgumentError(f"{where} has an unexpected key {key!r}")
            elif isinstance(additional, Mapping):
                validate(item, additional, f"{where}.{key}")


def _json_type_name(value: Any) -> str:
    for name in _PYTHON_TYPES:
        if _type_matches(value, name) and name != "number":
            return name
    return "number" if isinstance(value, float) else type(value).__name__


# ---------------------------------------------------------------- schemas from hints


def _explicit_schema(
    function: Callable[..., Any], parameters: Sequence[ParameterSchema]
) -> tuple[dict[str, Any], dict[str, Callable[[Any], Any]]]:
    signature = inspect.signature(function)
    accepts_any = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    )
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate parameter names in {names}")
    unknown = [n for n in names if n not in signature.parameters]
    if unknown and not accepts_any:
        raise ValueError(
            f"parameters {unknown} are not parameters of {function.__name__}{signature}"
        )
    needed = [
        p.name
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in names
    ]
    if needed:
        raise ValueError(f"{function.__name__} needs {needed}, which no ParameterSchema describes")
    optional_required = [
        p.name
        for p in parameters
        if not p.required
        and p.name in signature.parameters
        and signature.parameters[p.name].default is inspect.Parameter.empty
    ]
    if optional_required:
        raise ValueError(f"parameters {optional_required} are optional but have no default")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: p.to_json_schema() for p in parameters},
        "required": [p.name for p in parameters if p.required],
    }
    return schema, {}


def _schema_from_hints(
    function: Callable[..., Any], docs: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Callable[[Any], Any]]]:
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError) as exc:
        raise ValueError(f"cannot read the type hints of {function.__name__}: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, Callable[[Any], Any]] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ValueError(f"{function.__name__}: positional-only parameters cannot be tools'")
        hint = hints.get(parameter.name, Any)
        schema = dict(json_schema(hint))
        if parameter.name in docs:
            schema["description"] = docs[parameter.name]
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
        elif _is_json_scalar(parameter.default):
            schema["default"] = parameter.default
        properties[parameter.name] = schema
        converter = _converter(hint)
        if converter is not None:
            converters[parameter.name] = converter
    return {"type": "object", "properties": properties, "required": required}, converters


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _is_typeddict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__total__")


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema for a type hint.

    str, int, float, bool, None, Any, list/tuple/set[X], dict[str, X],
    Optional/Union, Literal, Enum, dataclasses and TypedDicts are understood;
    anything else is refused with a ValueError at registration.
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = get_origin(hint), get_args(hint)
    if _is_union(hint):
        options = [json_schema(a) for a in args]
        if all(len(o) == 1 and isinstance(o.get("type"), str) for o in options):
            return {"type": [o["type"] for o in options]}  # e.g. ["string", "null"]
        return {"anyOf": options}
    if origin is Literal:
        values = list(args)
        kinds = {_SCALARS.get(type(v), "null" if v is None else "string") for v in values}
        return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        kinds = {_SCALARS.get(type(v), "string") for v in values}
        return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}
    if hint in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        schema: dict[str, Any] = {"type": "array"}
        if args and not (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            if origin is tuple and len(set(args)) > 1:
                schema["prefixItems"] = [json_schema(a) for a in args]
                return schema
            schema["items"] = json_schema(args[0])
        elif args:
            schema["items"] = json_schema(args[0])
        return schema
    if hint is dict or origin in (dict, Mapping) or hint is Mapping:
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = json_schema(args[1])
        return schema
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _object_schema(hint, [f.name for f in dataclasses.fields(hint) if _no_default(f)])
    if _is_typeddict(hint):
        return _object_schema(hint, sorted(getattr(hint, "__required_keys__", ())))
    raise ValueError(f"cannot describe the type {hint!r} as JSON schema; use ParameterSchema")


def _no_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _object_schema(kind: type, required: list[str]) -> dict[str, Any]:
    hints = typing.get_type_hints(kind)
    _, docs = parse_docstring(inspect.getdoc(kind) or "")
    properties = {}
    for name, hint in hints.items():
        schema = dict(json_schema(hint))
        if name in docs:
            schema["description"] = docs[name]
        properties[name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How a validated JSON value becomes the hinted Python value, or None
    when it is already right (str, int, plain lists...)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is float:
        return float
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if _is_union(hint):
        converters = [(a, _converter(a)) for a in args if a is not type(None)]
        if not any(c for _, c in converters):
            return None
        return functools.partial(_convert_union, converters)
    if origin in (list, set, frozenset, tuple) or hint in (tuple, set, frozenset):
        item = _converter(args[0]) if args else None
        container: Callable[[Any], Any] = origin or hint
        if item is None:
            return container if container is not list else None
        return lambda value: container(item(v) for v in value)
    if origin in (dict, Mapping) and len(args) == 2:
        inner = _converter(args[1])
        if inner is None:
            return None
        return lambda value: {k: inner(v) for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        field_converters = {name: _converter(h) for name, h in typing.get_type_hints(hint).items()}
        kind = hint

        def build(value: Mapping[str, Any]) -> Any:
            return kind(
                **{
                    k: (field_converters[k](v) if field_converters.get(k) else v)  # type: ignore[misc]
                    for k, v in value.items()
                }
            )

        return build
    return None


def _convert_union(options: list[tuple[Any, Callable[[Any], Any] | None]], value: Any) -> Any:
    if value is None:
        return None
    for hint, convert in options:
        try:
            validate(value, json_schema(hint), "value")
        except _ArgumentError:
            continue
        return convert(value) if convert is not None else value
    return value


# ---------------------------------------------------------------- docstrings

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Attributes|Returns?|Raises|Yields|Examples?|Notes?):\s*$"
)
_GOOGLE_PARAM = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(summary, {parameter: description})`` from a Google- or reST-style docstring.

    The summary is the first paragraph, joined into one line. Parameters come
    from an ``Args:`` section (``name (type): text``, continued on deeper
    indented lines) or ``:param name: text`` fields.
    """
    params: dict[str, str] = {}
    paragraph: list[str] = []
    summary_done = False
    section: str | None = None
    current: str | None = None
    param_indent: int | None = None
    for raw in doc.splitlines():
        line = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        header = _SECTION.match(line)
        rest = _REST_PARAM.match(line)
        if header or rest or line.startswith(":"):
            summary_done = True
        if not summary_done:
            if line:
                paragraph.append(line)
            elif paragraph:
                summary_done = True
            continue
        if header:
            section, current, param_indent = header.group(1), None, None
        elif rest:
            section, current = "rest", rest.group(1)
            params[current] = rest.group(2).strip()
        elif line.startswith(":"):
            section, current = None, None  # :returns:, :raises: ...
        elif not line:
            continue
        elif section in _PARAM_SECTIONS and (param_indent is None or indent <= param_indent):
            match = _GOOGLE_PARAM.match(line)
            if match:
                param_indent = indent
                current = match.group(1).lstrip("*")
                params[current] = match.group(2).strip()
        elif current is not None and section in (*_PARAM_SECTIONS, "rest"):
            params[current] = f"{params[current]} {line}".strip()
    return " ".join(paragraph), params


_PARAM_SECTIONS = ("Args", "Arguments", "Parameters", "Params", "Attributes")


__all__ = [
    "ParameterSchema",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "json_schema",
    "parse_docstring",
    "render_result",
    "validate",
]
