"""What `stop_runaway` could save, read from stored evaluation outputs (no generation, no timing noise).

For every row of one or more evaluation directories (`results.jsonl`), the output is re-tokenized with the
model's tokenizer and `generation.is_runaway` is checked at every decode-segment boundary (every
`--segment` tokens), as the hf backend does with `stop_runaway`. A row that would have been stopped at
boundary b decodes b tokens instead of all of its own; the sum over a category is the decode work the lever
removes (an upper bound on its time effect: prefill and the rows that answer are untouched).

    python bench/runaway.py runs/prompt-ab-v2/eval/json runs/bench/eval-arms-untrained/json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from open_toolace.generation import is_runaway
from open_toolace.io import atomic_write_json, read_jsonl
from open_toolace.models import load_tokenizer

_BENCH = str(Path(__file__).resolve().parent)
if _BENCH not in sys.path:  # a test that loads this file by path has no bench/ on sys.path
    sys.path.append(_BENCH)

from _results import stamp  # noqa: E402


def stop_at(ids: list[int], segment: int) -> int | None:
    """The first segment boundary at which `is_runaway` fires, else None."""
    for b in range(segment, len(ids) + 1, segment):
        if is_runaway(ids[:b]):
            return b
    return None


def analyse(run_dir: Path, tok, segment: int, cap: int) -> dict[str, dict]:
    by: dict[str, dict] = defaultdict(lambda: {"items": 0, "tokens": 0, "tokens_with_stop": 0, "stopped": 0,
                                               "at_cap": 0})  # fmt: skip
    for row in read_jsonl(run_dir / "results.jsonl"):
        ids = tok(row.get("output") or "", add_special_tokens=False).input_ids
        b = stop_at(ids, segment)
        c = by[row["category"]]
        c["items"] += 1
        c["tokens"] += len(ids)
        c["tokens_with_stop"] += b if b else len(ids)
        c["stopped"] += bool(b)
        c["at_cap"] += len(ids) >= cap - 2
    for c in by.values():
        c["saved_share"] = round(1 - c["tokens_with_stop"] / c["tokens"], 4) if c["tokens"] else 0.0
    return dict(by)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="evaluation run directories (results.jsonl)")
    ap.add_argument("--model", default="embedded:smollm2-135m", help="tokenizer of the model that wrote them")
    ap.add_argument("--segment", type=int, default=32, help="decode segment of the hf backend")
    ap.add_argument("--json", default="bench/results/runaway_offline.json")
    args = ap.parse_args(argv)
    tok = load_tokenizer(args.model)
    out: dict[str, dict] = {}
    for d in args.dirs:
        d = Path(d)
        gen = json.loads((d / "generation.json").read_text()) if (d / "generation.json").exists() else {}
        cap = int(gen.get("max_new_tokens") or 256)
        cats = analyse(d, tok, args.segment, cap)
        tokens = sum(c["tokens"] for c in cats.values())
        kept = sum(c["tokens_with_stop"] for c in cats.values())
        out[str(d)] = {"max_new_tokens": cap, "adapter": gen.get("adapter"), "categories": cats,
                       "saved_share": round(1 - kept / tokens, 4) if tokens else 0.0}  # fmt: skip
        print(
            f"{d} (cap {cap}): decode tokens {tokens} -> {kept} ({100 * out[str(d)]['saved_share']:.1f}% saved)"
        )
        for cat, c in cats.items():
            print(f"  {cat:<20}{c['items']:>5} items {c['tokens']:>7} tok  stopped {c['stopped']:>3}  "
                  f"at cap {c['at_cap']:>3}  saved {100 * c['saved_share']:.0f}%")  # fmt: skip
    res = {"segment": args.segment, "model": args.model, "runs": out, **stamp("runaway.py", argv)}
    print(f"wrote {atomic_write_json(args.json, res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
