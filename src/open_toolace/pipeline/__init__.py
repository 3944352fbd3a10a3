"""The pieces of `toolace run` (open_toolace.run): its config, the stage machinery, one round, over a run dir.

- `config`: `RunConfig` and its sections;
- `stages`: `Ctx` (run dir + manifest + generator), failure injection for the resume tests, the seed /
  bootstrap / eval stages;
- `rounds`: one self-evolution round as resumable stages over `open_toolace.evolve`'s pure steps.
"""

from open_toolace.pipeline.config import (
    BootstrapConfig,
    EvolveConfig,
    RunConfig,
    RunEvalConfig,
    SeedDataConfig,
)

__all__ = ["BootstrapConfig", "EvolveConfig", "RunConfig", "RunEvalConfig", "SeedDataConfig"]
