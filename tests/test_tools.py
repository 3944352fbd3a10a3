"""Tool model and converters: synthetic shapes, every tool definition in ../shared/data, BFCL's own docs."""

from __future__ import annotations

import json

import pytest

from open_toolace.checks import check_calls, reason_counts, validate_tool
from open_toolace.formats.tools import (
    Tool,
    ToolFormatError,
    parse_tool,
    parse_tools,
    tool_from_apibank,
    tool_from_bfcl,
    tool_from_openai,
    tool_from_sealtools,
    tool_from_xlam,
    tool_to_bfcl,
    tool_to_openai,
    type_to_schema,
)

BFCL_FACTORIAL = {
    "name": "math.factorial",
    "description": "Calculate the factorial of a number.",
    "parameters": {
        "type": "dict",
        "properties": {
            "number": {"type": "integer", "description": "The number."},
            "scale": {"type": "float", "description": "A scale.", "default": 1.0},
            "pair": {"type": "tuple", "items": {"type": "string"}, "description": "A pair."},
            "anything": {"type": "any", "description": "Any value."},
            "mode": {"type": "string", "enum": ["fast", "exact"], "description": "Mode."},
            "opts": {
                "type": "dict",
                "properties": {"k": {"type": "array", "items": {"type": "float"}}},
                "required": ["k"],
            },
        },
        "required": ["number"],
    },
}


# ---------------------------------------------------------------- type names


@pytest.mark.parametrize(
    ("name", "schema", "optional"),
    [
        ("str", {"type": "string"}, False),
        ("int", {"type": "integer"}, False),
        ("float", {"type": "number"}, False),
        ("bool", {"type": "boolean"}, False),
        ("list", {"type": "array"}, False),
        ("dict", {"type": "object"}, False),
        ("Dict", {"type": "object"}, False),
        ("HashMap", {"type": "object"}, False),
        ("any", {}, False),
        ("str, optional", {"type": "string"}, True),
        ("Optional[int]", {"type": ["integer", "null"]}, True),
        ("List[int]", {"type": "array", "items": {"type": "integer"}}, False),
        (
            "List[List[float]]",
            {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            False,
        ),
        ("List[Union[int, float]]", {"type": "array", "items": {"type": ["integer", "number"]}}, False),
        ("Dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}, False),
        (
            "Tuple[float, float]",
            {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            False,
        ),
        ("Literal['a', 'b']", {"enum": ["a", "b"]}, False),
        (["string", "null"], {"type": ["string", "null"]}, False),
        ("datetime", {"type": "string", "format": "date-time"}, False),
    ],
)
def test_type_aliases(name, schema, optional):
    got, opt, unknown = type_to_schema(name)
    assert (got, opt, unknown) == (schema, optional, [])


def test_unknown_type_is_recorded_not_raised():
    schema, _, unknown = type_to_schema("Callable[[float], float]")
    assert schema == {} and unknown == ["Callable[[float], float]"]
    tool = tool_from_xlam(
        {"name": "deriv", "description": "d/dx", "parameters": {"f": {"type": "Callable[[float], float]"}}}
    )
    assert tool.parameters["properties"]["f"]["x-unknown-type"] == "Callable[[float], float]"
    assert [r.code for r in validate_tool(tool)] == ["unknown_type"]


# ---------------------------------------------------------------- converters in / out


def test_bfcl_doc_converts_and_round_trips():
    tool = tool_from_bfcl(BFCL_FACTORIAL)
    assert tool.name == "math.factorial"  # dotted names kept as-is
    p = tool.parameters
    assert p["type"] == "object" and p["required"] == ["number"]
    assert p["properties"]["scale"]["type"] == "number"
    assert p["properties"]["pair"]["type"] == "array"
    assert "type" not in p["properties"]["anything"]  # any: no type constraint
    assert p["properties"]["opts"]["type"] == "object"
    assert p["properties"]["opts"]["properties"]["k"]["items"] == {"type": "number"}
    assert validate_tool(tool) == []
    assert tool_to_bfcl(tool) == BFCL_FACTORIAL
    assert parse_tool(BFCL_FACTORIAL) == tool


def test_bfcl_enum_on_an_array_constrains_its_items():
    doc = {
        "name": "metrics",
        "description": "d",
        "parameters": {
            "type": "dict",
            "properties": {"m": {"type": "array", "items": {"type": "string"}, "enum": ["buzz", "view"]}},
            "required": ["m"],
        },
    }
    tool = parse_tool(doc)
    assert tool.parameters["properties"]["m"]["items"] == {"type": "string", "enum": ["buzz", "view"]}
    assert tool_to_bfcl(tool) == doc
    assert check_calls([{"name": "metrics", "arguments": {"m": ["view"]}}], [tool]) == []
    assert [r.code for r in check_calls([{"name": "metrics", "arguments": {"m": ["x"]}}], [tool])] == [
        "enum_mismatch"
    ]


def test_openai_round_trip_both_shapes():
    fn = {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    wrapped = {"type": "function", "function": fn}
    t1, t2 = tool_from_openai(wrapped), parse_tool(fn)
    assert t1 == t2
    assert tool_to_openai(t1) == wrapped
    assert tool_to_openai(t1, wrap=False) == fn
    assert Tool.from_dict(t1.to_dict()) == t1
    assert validate_tool(t1) == []


def test_openai_output_drops_extension_keys_and_bfcl_restores_them():
    tool = parse_tool(BFCL_FACTORIAL)
    out = json.dumps(tool_to_openai(tool))
    assert "x-original-type" not in out and '"dict"' not in out and '"float"' not in out
    assert "x-original-type" in json.dumps(tool_to_openai(tool, keep_extensions=True))


def test_xlam_required_from_defaults_and_optional_types():
    tool = parse_tool(
        {
            "name": "roll",
            "description": "Roll dice.",
            "parameters": {
                "n": {"type": "int", "description": "dice", "default": ""},  # ToolRL's "no default"
                "faces": {"type": "int, optional", "description": "faces", "default": ""},
                "seed": {"type": "int", "description": "seed", "default": 0},
                "names": {"type": "List[str]", "description": "labels"},
            },
        }
    )
    p = tool.parameters
    assert p["required"] == ["n", "names"]
    assert "default" not in p["properties"]["n"] and p["properties"]["seed"]["default"] == 0
    assert p["properties"]["names"] == {"type": "array", "items": {"type": "string"}, "description": "labels"}
    assert validate_tool(tool) == []


def test_xlam_param_named_type_is_not_mistaken_for_a_schema():
    tool = parse_tool(
        {"name": "f", "description": "d", "parameters": {"type": {"type": "str", "description": "kind"}}}
    )
    assert tool.parameters["properties"]["type"]["type"] == "string"


def test_sealtools_and_apibank_shapes():
    seal = {
        "api_name": "getAnimationInfo",
        "api_description": "Info about an animation",
        "field": "Entertainment",
        "parameters": {
            "animation_name": {"type": "str", "description": "Name", "example": "Totoro"},
            "release_year": {"type": "int", "description": "Year"},
        },
        "required": ["animation_name"],
        "responses": {"director": {"type": "str", "description": "who"}},
    }
    t = parse_tool(seal)
    assert t.name == "getAnimationInfo" and t.required == ["animation_name"]
    assert t.parameters["properties"]["animation_name"]["examples"] == ["Totoro"]
    assert validate_tool(t) == []
    bank = {
        "name": "GetSurgeryCost",
        "description": "Cost of a surgery.",
        "input_parameters": {
            "surgery": {"type": "str", "description": "The surgery."},
            "when": {"type": "datetime", "description": "Optional. Date of the surgery."},
        },
        "output_parameters": {"total_cost": {"type": "float", "description": "Cost"}},
    }
    t = tool_from_apibank(bank)
    assert t.required == ["surgery"]
    assert t.parameters["properties"]["when"]["format"] == "date-time"
    assert parse_tool(repr(bank)) == t  # API-Bank prints its docs as Python literals
    t2 = parse_tool(
        {"apiCode": "ToolSearcher", "description": "Search.", "parameters": {"keywords": {"type": "str"}}}
    )
    assert t2.name == "ToolSearcher" and t2.required == ["keywords"]
    assert tool_from_sealtools(seal).name == "getAnimationInfo"


def test_apibank_printed_doc_defects_are_repaired():
    text = "{'name': 'Rec', 'description': 'For the user's goals.', 'input_parameters': {'g': {'type': str}}}"
    tool = parse_tool(text)
    assert (
        tool.description == "For the user's goals." and tool.parameters["properties"]["g"]["type"] == "string"
    )


def test_parse_tools_accepts_json_string_list():
    tools = parse_tools(json.dumps([BFCL_FACTORIAL, {"type": "function", "function": {"name": "g"}}]))
    assert [t.name for t in tools] == ["math.factorial", "g"]
    assert tools[1].parameters == {"type": "object", "properties": {}}
    assert parse_tools("[]") == [] and parse_tools("") == []


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"description": "no name"}, "no 'name'"),
        ({"name": "", "parameters": {}}, "'name' must be a non-empty string"),
        ({"name": "f", "parameters": {"type": "string"}}, "must have type 'object'"),
        (
            {"name": "f", "parameters": {"type": "object", "properties": []}},
            ".properties: expected an object",
        ),
        ({"name": "f", "description": 3}, "'description' must be a string"),
        ({"api_name": "f", "parameters": ["a"]}, "found list"),
        ({"name": "f", "parameters": {"a": 3}}, "f' parameters.a: expected an object"),
        ("{'name': 'f', 'input_parameters': {'a': ", "neither JSON"),
        ("{'name': __import__('os').getcwd()}", "neither JSON"),
        (42, "must be a JSON object, found int"),
    ],
)
def test_format_errors_are_actionable(obj, fragment):
    with pytest.raises(ToolFormatError) as e:
        parse_tool(obj)
    assert fragment in str(e.value)


def test_parse_tools_names_the_index():
    with pytest.raises(ToolFormatError, match=r"tool #1: "):
        parse_tools([BFCL_FACTORIAL, {"name": "f", "parameters": {"type": "string"}}])


def test_property_level_required_flag_is_lifted():
    t = parse_tool(
        {
            "name": "f",
            "description": "d",
            "parameters": {"type": "object", "properties": {"a": {"type": "string", "required": True}}},
        }
    )
    assert t.required == ["a"] and "required" not in t.parameters["properties"]["a"]


def test_validate_tool_rules():
    codes = lambda t: sorted(reason_counts(validate_tool(t)))  # noqa: E731
    good = Tool(
        "ok.name-1", "d", {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    )
    assert validate_tool(good) == []
    assert codes(Tool("Market Trends API", "d", good.parameters)) == ["bad_name"]
    assert codes(Tool("x" * 65, "d", good.parameters)) == ["bad_name"]
    assert codes(Tool("f", "  ", good.parameters)) == ["empty_description"]
    assert codes(Tool("f", "d", {"type": "object", "properties": {}, "required": ["a"]})) == [
        "required_not_in_properties"
    ]
    bad_enum = {"type": "object", "properties": {"a": {"type": "string", "enum": "x"}}}
    reasons = validate_tool(Tool("f", "d", bad_enum))
    assert [r.code for r in reasons] == ["invalid_schema"] and "['properties']['a']['enum']" in reasons[
        0
    ].message
    assert codes(Tool("f", "d", {"type": "string"})) == ["invalid_schema"]
    nested = {"type": "object", "properties": {"o": {"type": "object", "properties": {}, "required": ["z"]}}}
    assert codes(Tool("f", "d", nested)) == ["required_not_in_properties"]


def test_hostile_nesting_is_a_format_error_not_a_crash():
    deep: dict = {"type": "string"}
    for _ in range(3000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(ToolFormatError, match="nested too deeply"):
        parse_tool({"name": "f", "parameters": {"type": "object", "properties": {"a": deep}}})
    with pytest.raises(ToolFormatError, match="nested too deeply"):
        parse_tools("[" * 100_000)
    assert [r.code for r in validate_tool(Tool("f", "d", {"type": "object", "properties": {"a": deep}}))] == [
        "invalid_schema"
    ]
