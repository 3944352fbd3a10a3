'''The `python` tool-doc format: a tool as a Python signature with a docstring, rendered and parsed with `ast`.

    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", days: list[int] | None = None):
        """Current weather for a city.

        Args:
            city: The city name.
            unit: Temperature unit.
            days: Days ahead to forecast.
        """

Why: it is what a code-pretrained small model reads and writes most reliably, and it needs ~2x fewer prompt
tokens than a JSON Schema list. One format serves reading tools (invocation prompts) and writing them (tool
generation, documentation adaption), so a round's generated tools are parsed by this same code.

Mapping (JSON Schema -> Python): string `str`, integer `int`, number `float`, boolean `bool`, array `list[T]`
(`list` without items), object `dict` (its properties in the docstring, indented under the parameter as
`name (type[, required]): description`), `tuple` (BFCL's lossy type), no type `Any`, enum `Literal[...]`.
Required parameters have no default; an optional one shows its schema default, else `= None`.

Reading is data only: the text is parsed with `ast.parse` and walked; nothing is executed or imported.
Anything the format does not know (decorators, calls or comprehensions as defaults, nested defs, imports, a
body with code, `*args`) rejects that tool with a reason; prose around the code is ignored.
'''

from open_toolace.formats.python_doc.parse import (
    MAX_CHARS,
    REASONS,
    PythonDocError,
    parse_tool,
    parse_tools,
    schema_of,
)
from open_toolace.formats.python_doc.render import annotation, comparable, render_tool, render_tools

__all__ = [
    "MAX_CHARS",
    "REASONS",
    "PythonDocError",
    "annotation",
    "comparable",
    "parse_tool",
    "parse_tools",
    "render_tool",
    "render_tools",
    "schema_of",
]
