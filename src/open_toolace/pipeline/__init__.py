"""The one home of a `toolace run`: a linear `run.py` and one file per stage.

- `config`: `RunConfig` and its sections (seed data, bootstrap, eval, evolve);
- `manifest`: `Ctx` (run dir + manifest + the live generator), `Ctx.stage` (resumable stages), `StageHooks`;
- `seed`: seed examples and the unlabeled query pool; `bootstrap`: the sub-task mixture and LoRA training;
- `eval`: BFCL after every stage; `rounds`: one self-evolution round over `open_toolace.evolve`'s pure steps;
- `catalog`: the tool catalog and query log a round reads with `evolve.tool_source` retrieve/both, `evolve.queries`;
- `report`: report.md + accuracy.png of a run directory; `run`: all of it, top to bottom.

Only the config is imported here (the CLI's `--help` reads it); `from open_toolace.pipeline.run import run`.
"""

from open_toolace.pipeline.config import (
    BootstrapConfig,
    EvolveConfig,
    RunConfig,
    RunEvalConfig,
    SeedDataConfig,
)

__all__ = ["BootstrapConfig", "EvolveConfig", "RunConfig", "RunEvalConfig", "SeedDataConfig"]
