"""Seed-data synthesis (ToolACE): an API context tree, evolved API pool, queries with ground-truth calls,
dual-layer verification, BFCL hygiene and complexity control; offline by default, or through an LLM teacher.

    from open_toolace.synth import SynthConfig, synthesize, synthesize_queries
    seed = synthesize(SynthConfig(n=6000))              # labeled internal records
    queries = synthesize_queries(SynthConfig(n=2000))   # unlabeled, from held-out domains

CLI: `toolace synth seed|queries|apis`; details in docs/synthesis.md.
"""

from open_toolace.synth.seed import ComplexityConfig, SynthConfig, SynthResult, run_synthesis, synthesize
from open_toolace.synth.teacher import TeacherConfig
from open_toolace.synth.unlabeled import run_queries, synthesize_queries

__all__ = [
    "ComplexityConfig",
    "SynthConfig",
    "SynthResult",
    "TeacherConfig",
    "run_queries",
    "run_synthesis",
    "synthesize",
    "synthesize_queries",
]
