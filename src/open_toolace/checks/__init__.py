"""Rule checker (the rule layer of ToolACE's dual-layer verification): calls against tools, and tool definitions.

Every check returns ``list[Reason]`` — typed codes plus a message a person can act on — so later stages can
count rejections by reason (``reason_counts``). An empty list means "passes".

Call codes: ``unknown_function``, ``missing_required``, ``unknown_parameter``, ``type_mismatch``,
``enum_mismatch``, ``schema_violation``, ``duplicate_call``, ``ungrounded_value`` (only with a query and
``grounding != "off"``), ``invalid_schema`` (the tool's own schema cannot validate the value).
Tool codes: ``invalid_schema``, ``required_not_in_properties``, ``bad_name``, ``duplicate_name``,
``empty_description``, ``unknown_type`` (a type name the converters could not map; the value is unconstrained).

Values are validated with ``jsonschema`` (Draft 2020-12); validators are compiled once per distinct schema.
Deliberate leniencies: an int is a valid ``number``; an int-valued float (``3.0``) is a valid ``integer``
(jsonschema's own rule); a tuple is a valid ``array``; ``None`` for a parameter that is not required counts as
"not given".

    from open_toolace.checks import check_calls, reason_counts
    reasons = check_calls(calls, tools, query="weather in Paris", grounding="lenient")
"""

from open_toolace.checks.calls import check_calls
from open_toolace.checks.reasons import Reason, reason_counts
from open_toolace.checks.tools import check_tools, tool_reasons, validate_tool

__all__ = ["Reason", "check_calls", "check_tools", "reason_counts", "tool_reasons", "validate_tool"]
