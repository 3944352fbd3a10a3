"""One self-evolution round (ToolACE-DEV stage 3) as small pure steps.

    queries --generate_tools (the model writes them) | retrieve_tools (BM25 over a catalog) | both
              (merge_tool_items)--> items with candidate tools
            --sample_invocations--> k raw completions per item (a cap per query type: `budget`)
            --vote_items (relax_tools if asked, then majority_vote over normalized, rule-checked samples)
              --> items with a winning call list
            --rule_filter--> items whose calls pass the rule checker (+ grounding)
            --build_triplets--> invocation (with distractors) + abstention + tool-generation samples (+ replay)
            --audit--> what happened, as JSON

Every step returns `(kept, rejected)` or plain data; a rejected item is a dict
`{"id", "step", "reason", "message", ...}` so the audit can count losses by step and reason. Model output
is data: tool lists are parsed with `json`, calls with `open_toolace.formats` (ast/json), never eval. A
malformed output is a recorded rejection, never a crash of the round. `run.py` strings these together
over a run directory; the functions themselves do no I/O.

Modules: `sample` (generate_tools with pick_tools, parse_tool_list, sample_invocations), `retrieve` (ToolIndex,
retrieve_tools, merge_tool_items, candidate_tools, catalog_tools: candidate tools from a catalog), `repair` (what a broken tool
list can be repaired to), `budget` (invocation caps sized to seed answers), `relax` (relax_tools: a generated tool relaxed to what its
samples agree on, before the vote), `filter` (majority_vote,
vote_items, rule_filter, audit), `triplets` (build_triplets), `common` (the rejection record).
"""

from open_toolace.evolve.common import Item, Rejection, reject
from open_toolace.evolve.filter import Vote, audit, majority_vote, rule_filter, vote_items
from open_toolace.evolve.relax import relax_tools
from open_toolace.evolve.retrieve import (
    ToolIndex,
    candidate_tools,
    catalog_tools,
    distractor_tools,
    merge_tool_items,
    retrieve_tools,
)
from open_toolace.evolve.sample import generate_tools, parse_tool_list, pick_tools, sample_invocations
from open_toolace.evolve.triplets import build_triplets

__all__ = [
    "Item",
    "Rejection",
    "ToolIndex",
    "Vote",
    "audit",
    "build_triplets",
    "candidate_tools",
    "catalog_tools",
    "distractor_tools",
    "generate_tools",
    "majority_vote",
    "merge_tool_items",
    "parse_tool_list",
    "pick_tools",
    "reject",
    "relax_tools",
    "retrieve_tools",
    "rule_filter",
    "sample_invocations",
    "vote_items",
]
