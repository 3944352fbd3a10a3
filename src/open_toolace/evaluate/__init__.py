"""Evaluation: BFCL single-turn categories (and any BFCL-format file) scored with bfcl_eval's own checker.

    from open_toolace.evaluate import evaluate_bfcl, score_bfcl
    score_bfcl("[f(a=1)]", item)                               # one verdict (the shared scorer)
    evaluate_bfcl(generator, "non_live", limit=10, out_dir="runs/eval/x")   # a run directory + scores

Modules: `bfcl` (data, categories), `scoring` (the scorer), `runner` (runs, resume), `aggregate`
(formulas), `report` (report.md, chart, compare), `dataset` (`--dataset` format). Docs: docs/evaluation.md.
"""

from open_toolace.evaluate.aggregate import compute_scores
from open_toolace.evaluate.bfcl import CATEGORIES, GROUPS, load_bfcl, load_category, resolve_categories
from open_toolace.evaluate.dataset import item_from_example, load_dataset
from open_toolace.evaluate.report import compare
from open_toolace.evaluate.runner import EvalConfig, evaluate_bfcl, evaluate_dataset, evaluate_items, run_eval
from open_toolace.evaluate.scoring import score_bfcl

__all__ = [
    "CATEGORIES",
    "GROUPS",
    "EvalConfig",
    "compare",
    "compute_scores",
    "evaluate_bfcl",
    "evaluate_dataset",
    "evaluate_items",
    "item_from_example",
    "load_bfcl",
    "load_category",
    "load_dataset",
    "resolve_categories",
    "run_eval",
    "score_bfcl",
]
