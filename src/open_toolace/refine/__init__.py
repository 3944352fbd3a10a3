"""ToolACE-R (arXiv 2504.01400): model-aware iterative selection, a self-refinement corpus, and adaptive
self-refinement at inference. Docs: docs/refine.md.

    from open_toolace.refine import sample_and_score, select, build_refinement, refine, transitions
    scored = sample_and_score(generator, examples, k=4, prompts="lean")    # K answers, scored by THE scorer
    selected, record = select(examples, [s.pass_rate for s in scored], threshold=0.75, k=4)
    samples, report = build_refinement(scored, keep_share=0.5, prompts="lean")   # task "refinement" rows
    result = refine(generator, contexts, first_answers, n_steps=3, prompts="lean")

Modules: `selection` (pass rates, selection, stop rule), `corpus` (refinement training samples and how a
previous answer is shown), `adaptive` (inference-time refinement, transitions), `config` (`ToolaceRConfig`)
and `iterate` (the model-aware iterative training loop, `run_toolace_r`; import it from
`open_toolace.refine.iterate`: it runs on the pipeline's stages, which this package must not import).
"""

from open_toolace.refine.adaptive import RefineResult, canonical_form, refine, transitions
from open_toolace.refine.config import ToolaceRConfig
from open_toolace.refine.corpus import (
    MAX_PREVIOUS_CHARS,
    build_refinement,
    corpus_counts,
    refinement_request,
    show_previous,
)
from open_toolace.refine.selection import (
    Scored,
    histogram,
    pass_rates,
    sample_and_score,
    score_example,
    select,
    stopped_shrinking,
)

__all__ = [
    "MAX_PREVIOUS_CHARS",
    "RefineResult",
    "Scored",
    "ToolaceRConfig",
    "build_refinement",
    "canonical_form",
    "corpus_counts",
    "histogram",
    "pass_rates",
    "refine",
    "refinement_request",
    "sample_and_score",
    "score_example",
    "select",
    "show_previous",
    "stopped_shrinking",
    "transitions",
]
