"""Does the model abstain because a request shares no word with the tool names? (`TaskMixConfig.alias_share`)

Two counts of one cue, "the request shares a word stem with the name of an offered tool"
(`training.aliases.word_stems`: the first five letters of each word of three or more letters):

- in a samples file (the mixture a model was trained on): invocation samples by call / no-call x cue;
- in a BFCL eval directory (`results.jsonl`): per category, how often the model answered `[]` on items with
  and without the cue (every scored category here but irrelevance expects a call).

    python bench/name_cue.py --samples runs/cpu/bootstrap/samples.jsonl --eval runs/cpu/eval/bootstrap \
        --json bench/results/name_cue.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from open_toolace.data.records import example_user_text
from open_toolace.evaluate.bfcl import load_category
from open_toolace.io import read_jsonl
from open_toolace.training.aliases import word_stems

_DEF = re.compile(r"^def ([\w.]+)\(", re.M)


def shares_a_word(request: str, names: list[str]) -> bool:
    words = word_stems(request)
    return any(word_stems(n) & words for n in names)


def sample_counts(rows: list[dict]) -> dict[str, int]:
    """Invocation samples of a lean-format samples file by answer (call / no_call) and cue."""
    out: Counter = Counter()
    for r in rows:
        if r.get("task") != "invocation":
            continue
        names = _DEF.findall(r["prompt"][0]["content"]) or re.findall(
            r'"name": "([^"]+)"', r["prompt"][0]["content"]
        )
        answer = "no_call" if r["completion"][0]["content"].strip() == "[]" else "call"
        out[
            f"{answer}/{'shared' if shares_a_word(example_user_text({'messages': r['prompt']}), names) else 'none'}"
        ] += 1
    return dict(sorted(out.items()))


def eval_counts(eval_dir: Path) -> dict[str, dict[str, list[int]]]:
    """Per category: {shared|none: [items, `[]` answers, right answers]}."""
    rows = {r["id"]: r for r in read_jsonl(eval_dir / "results.jsonl")}
    out: dict[str, dict[str, list[int]]] = {}
    for cat in sorted({r["category"] for r in rows.values()}):
        if cat.startswith("irrelevance"):
            continue
        counts = {"shared": [0, 0, 0], "none": [0, 0, 0]}
        for item in load_category(cat):
            r = rows.get(item["id"])
            if r is None:
                continue
            request = example_user_text({"messages": [m for turn in item["question"] for m in turn]})
            c = counts["shared" if shares_a_word(request, [f["name"] for f in item["function"]]) else "none"]
            c[0] += 1
            c[1] += r["output"].strip() == "[]"
            c[2] += bool(r["valid"])
        out[cat] = counts
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", nargs="*", default=[], help="samples files (toolace train build / a run's)")
    ap.add_argument("--eval", nargs="*", default=[], help="eval directories (toolace eval --out)")
    ap.add_argument("--json", help="write the counts here")
    args = ap.parse_args(argv)
    result = {
        "samples": {p: sample_counts(list(read_jsonl(p))) for p in args.samples},
        "eval": {p: eval_counts(Path(p)) for p in args.eval},
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
    }
    for p, c in result["samples"].items():
        none = c.get("call/none", 0) + c.get("no_call/none", 0)
        shared = c.get("call/shared", 0) + c.get("no_call/shared", 0)
        print(f"{p}: {c}; no-call share without a shared word {c.get('no_call/none', 0) / max(none, 1):.2f}, "
              f"with one {c.get('no_call/shared', 0) / max(shared, 1):.2f}")  # fmt: skip
    for p, cats in result["eval"].items():
        for cat, c in cats.items():
            print(
                f"{p} {cat}: no shared word {c['none'][1]}/{c['none'][0]} []; shared {c['shared'][1]}/{c['shared'][0]} []"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
