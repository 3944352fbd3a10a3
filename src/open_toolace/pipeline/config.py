"""`RunConfig`: every setting of an end-to-end run (`toolace run CONFIG [key=value ...]`), in sections.

    seed_data   where the labeled seed examples and the unlabeled round queries come from
    bootstrap   stage 1+2: the sub-task mixture and the LoRA training on it (method sft), then optionally
                ToolACE-R's model-aware iterative training on the seed examples (method toolace-r)
    eval        BFCL categories and the fixed subset (first `limit` items per category)
    evolve      stage 3: rounds, queries per round, m, k, temperatures, vote threshold, replay, init
    model/seed  the base model spec and the seed every random choice derives from

The resolved config is saved as `<run_dir>/config.yaml`; a resumed run must match it (see `run.check_resume`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from open_toolace.generation import Sampling
from open_toolace.models import DEFAULT_MODEL
from open_toolace.refine.config import ToolaceRConfig
from open_toolace.training.config import TrainConfig
from open_toolace.training.mixture import TaskMixConfig


def _round_train() -> TrainConfig:
    # Rounds add a few dozen verified samples to an adapter that already knows the format: fewer epochs.
    return TrainConfig(num_train_epochs=1.0, effective_batch_size=16)


def _round_mix() -> TaskMixConfig:
    # Full triplets: every kept item also teaches an abstention (its query with pool tools that cannot
    # serve it). Its own unused tools are not kept there: they were generated for this very query.
    return TaskMixConfig(
        distractors_min=1, distractors_max=2, abstention_share=1.0, abstention_keep_other_tools=False
    )


@dataclass
class SeedDataConfig:
    source: str = field(
        default="synth",
        metadata={
            "help": "labeled seed examples: 'synth' (offline synthesis), a file path (any format "
            "`toolace data convert` reads), or 'hf:<dataset name>' (rows in the internal HF view)"
        },
    )
    format: str = field(default="auto", metadata={"help": "format of a file source (data.adapters.FORMATS)"})
    split: str = field(default="train", metadata={"help": "split of an hf: source"})
    limit: int | None = field(
        default=400, metadata={"help": "at most this many seed examples (a seeded sample; null: all)"}
    )
    synth: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "overrides of the synthesizer's config (synth source)"}
    )
    queries: str = field(
        default="synth",
        metadata={
            "help": "unlabeled queries for the rounds: 'synth' (held-out domains) or a file of "
            "examples (their calls are ignored)"
        },
    )
    queries_synth: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "overrides of the query synthesizer's config"}
    )
    extra_tools: str | None = field(
        default=None, metadata={"help": "a file of tool docs added to the adaption task (e.g. Seal-Tools)"}
    )


BOOTSTRAP_METHODS = ("sft", "toolace-r")


@dataclass
class BootstrapConfig:
    mix: TaskMixConfig = field(
        default_factory=TaskMixConfig,
        metadata={"help": "sub-task mixture of stage 1+2 (training.mixture.TaskMixConfig)"},
    )
    train: TrainConfig = field(
        default_factory=TrainConfig,
        metadata={"help": "LoRA training of stage 1+2 (train.TrainConfig; model/seed come from the run)"},
    )
    method: str = field(
        default="sft",
        metadata={
            "help": "sft: the bootstrap adapter is the LoRA trained on the mixture (bootstrap.train); "
            "toolace-r: then ToolACE-R's model-aware iterative training on the seed examples "
            "(bootstrap.toolace_r, refine.iterate), whose final adapter is the one eval and rounds use"
        },
    )
    sft_first: bool = field(
        default=True,
        metadata={
            "help": "method toolace-r: start ToolACE-R from the SFT adapter (true) or, skipping "
            "bootstrap.train, from a new LoRA on the base model (false)"
        },
    )
    toolace_r: ToolaceRConfig = field(
        default_factory=ToolaceRConfig,
        metadata={
            "help": "method toolace-r: the loop's settings (refine.config.ToolaceRConfig; model, seed, "
            "backend and the starting adapter come from the run, mix null = bootstrap.mix)"
        },
    )

    def __post_init__(self) -> None:
        if self.method not in BOOTSTRAP_METHODS:
            raise ValueError(
                f"bootstrap.method must be one of {', '.join(BOOTSTRAP_METHODS)}, got {self.method!r}"
            )


@dataclass
class RunEvalConfig:
    categories: str = field(
        default="simple_python,multiple,parallel,parallel_multiple,irrelevance",
        metadata={"help": "BFCL categories or groups (evaluate.resolve_categories)"},
    )
    limit: int | None = field(
        default=25, metadata={"help": "first N items of every category: a fixed, stated subset (null: all)"}
    )
    max_new_tokens: int = field(default=128, metadata={"help": "greedy generation budget per answer"})
    save_every: int = field(
        default=64, metadata={"help": "items per generate call (results saved after each)"}
    )
    base: bool = field(default=True, metadata={"help": "also evaluate the base model (round 'base')"})
    headroom_samples: int = field(
        default=0,
        metadata={
            "help": "K > 1: the bootstrap's eval also samples K answers per item (greedy / maj@K / pass@K in the "
            "report: maj@K - greedy is what a round's vote can distill at best)"
        },
    )
    headroom_temperature: float = field(default=0.7, metadata={"help": "temperature of the headroom samples"})


# Where a round's candidate tools come from (pipeline.rounds' tools stage; evolve.sample / evolve.retrieve).
TOOL_SOURCES = ("generate", "retrieve", "both")


@dataclass
class EvolveConfig:
    rounds: int = field(default=2, metadata={"help": "self-evolution rounds N"})
    queries_per_round: int = field(default=40, metadata={"help": "fresh unlabeled queries per round"})
    m: int = field(default=3, metadata={"help": "candidate tools asked for per query"})
    k: int = field(default=5, metadata={"help": "invocation samples per query for the vote"})
    tool_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of tool generation"})
    invoke_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of invocations"})
    top_k: int | None = field(default=50, metadata={"help": "top-k of both samplers"})
    top_p: float | None = field(default=None, metadata={"help": "top-p of the invocation sampler"})
    tool_samples: int = field(
        default=1,
        metadata={
            "help": "tool lists sampled per query; the query keeps the valid one with room for most of its "
            "stated numbers (evolve.pick_tools) and is rejected only when none is valid"
        },
    )
    tool_max_new_tokens: int = field(default=320, metadata={"help": "budget of one generated tool list"})
    invoke_max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "budget of one invocation sample (None: per query type, the longest seed answer of that "
            "type + 16; sampling stops at the end of the call list anyway)"
        },
    )
    stop_runaway: bool = field(
        default=True,
        metadata={
            "help": "end a sample that loops (generation.is_runaway) instead of decoding it to the cap"
        },
    )
    vote_threshold: float = field(
        default=0.6,
        metadata={"help": "the winning answer class needs this share of the valid samples (ties dropped)"},
    )
    min_votes: int = field(
        default=2,
        metadata={
            "help": "the winning class needs at least this many votes (1 with k=1 and invoke_temperature 0: "
            "keep the greedy answer when it passes the rules)"
        },
    )
    relax_tools: bool = field(
        default=False,
        metadata={
            "help": "before the vote, relax each query's generated tools to what its samples agree on: a "
            "required parameter at least half the calls leave out becomes optional, an integer given "
            "fractions a number (evolve.relax; recorded in meta.tool_relaxed)"
        },
    )
    keep_no_call: bool = field(
        default=False, metadata={"help": "keep items whose majority answer is 'call nothing'"}
    )
    grounding: str = field(
        default="off", metadata={"help": "rule filter's grounding check: off | lenient | strict"}
    )
    coverage: str = field(
        default="off",
        metadata={
            "help": "rule filter's coverage check: off | numbers (reject a kept call that leaves out a number "
            "the query states: query_value_unused)"
        },
    )
    replay_share: float = field(
        default=0.3, metadata={"help": "share of each round's training set replayed from the seed mixture"}
    )
    replay_balance: str = field(
        default="off",
        metadata={
            "help": "which seed samples replay draws: off (at random) | calls (answers with two or more calls "
            "first, up to the seed mixture's share of them among invocation targets: rounds keep mostly "
            "single calls; evolve.triplets.draw_replay)"
        },
    )
    init: str = field(
        default="continue",
        metadata={
            "help": "continue: train the previous round's adapter on this round's triplets (+replay); "
            "restart: a new adapter from the base model on the seed mixture + every round's triplets"
        },
    )
    tool_source: str = field(
        default="generate",
        metadata={
            "help": "where a round's candidate tools come from: generate (the model writes m per query), "
            "retrieve (the best m of a tool catalog by BM25: evolve.tools), or both (generated first, then "
            "the retrieved ones not named yet: at most 2m)"
        },
    )
    tools: str | None = field(
        default=None,
        metadata={
            "help": "tool catalog for retrieve/both: a JSON/JSONL file of tools (OpenAI tools, JSON-Schema "
            'tool objects, BFCL docs, or {"tools": [...]}); null = the seed examples\' tools + the seed API '
            "pool (seed/apis.jsonl) when the run has one"
        },
    )
    retrieve_top_n: int = field(
        default=8,
        metadata={
            "help": "tools ranked per query in retrieval: the best m are its candidates, the rest are kept "
            "as its near-miss distractors (meta.retrieved_distractors)"
        },
    )
    queries: str | None = field(
        default=None,
        metadata={
            "help": "a file of the user's unlabeled queries (examples in any format, or JSONL of "
            '{"query": ...} / {"messages": [...]} / strings); rounds take fresh slices of it instead of '
            "seed/queries.jsonl. null = the run's query pool (seed_data.queries)"
        },
    )
    mix: TaskMixConfig = field(
        default_factory=_round_mix,
        metadata={"help": "how round triplets are built (distractors, abstentions)"},
    )
    train: TrainConfig = field(
        default_factory=_round_train,
        metadata={"help": "LoRA training of a round (restart mode uses bootstrap.train instead)"},
    )

    def __post_init__(self) -> None:
        if self.init not in ("continue", "restart"):
            raise ValueError(f"evolve.init must be 'continue' or 'restart', got {self.init!r}")
        if not 0 <= self.replay_share < 1:
            raise ValueError(f"evolve.replay_share must be in [0, 1), got {self.replay_share}")
        if self.replay_balance not in ("off", "calls"):
            raise ValueError(f"evolve.replay_balance must be off or calls, got {self.replay_balance!r}")
        if not 0 <= self.vote_threshold <= 1:
            raise ValueError(f"evolve.vote_threshold must be in [0, 1], got {self.vote_threshold}")
        if not 1 <= self.min_votes <= self.k:
            raise ValueError(f"evolve.min_votes must be in [1, k={self.k}], got {self.min_votes}")
        if self.k < 1 or self.m < 1 or self.tool_samples < 1 or self.rounds < 0 or self.queries_per_round < 1:
            raise ValueError(
                "evolve: need k >= 1, m >= 1, tool_samples >= 1, rounds >= 0, queries_per_round >= 1"
            )
        if self.tool_source not in TOOL_SOURCES:
            raise ValueError(
                f"evolve.tool_source must be one of {', '.join(TOOL_SOURCES)}, got {self.tool_source!r}"
            )
        if self.retrieve_top_n < (self.m if self.tool_source != "generate" else 1):
            raise ValueError(
                f"evolve.retrieve_top_n ({self.retrieve_top_n}) must be >= evolve.m ({self.m}): the best m "
                "retrieved tools are a query's candidates"
            )
        if self.tools is not None and self.tool_source == "generate":
            raise ValueError(
                "evolve.tools is set but evolve.tool_source is 'generate', which never reads a catalog: "
                "set tool_source to retrieve or both, or tools to null"
            )
        # Checked here, not at the first round: a typo should not cost a bootstrap training first.
        for key in ("tools", "queries"):
            path = getattr(self, key)
            if path is not None and (not isinstance(path, str) or not Path(path).is_file()):
                raise ValueError(f"evolve.{key}: {path!r} is not a file")

    # The only defaults of a round's sampling: the round steps take a `Sampling` and have none of their own.
    def tool_sampling(self, seed: int) -> Sampling:
        """`tool_samples` tool lists per query (query-aware tool generation)."""
        return Sampling(
            n=self.tool_samples,
            temperature=self.tool_temperature,
            top_k=self.top_k,
            max_new_tokens=self.tool_max_new_tokens,
            seed=seed,
            stop_runaway=self.stop_runaway,
        )

    def invocation_sampling(self, seed: int) -> Sampling:
        """k invocation samples per query (the vote's ballots)."""
        return Sampling(
            n=self.k,
            temperature=self.invoke_temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            max_new_tokens=self.invoke_max_new_tokens or 256,  # the rounds size it per query type
            seed=seed,
            stop_runaway=self.stop_runaway,
        )


@dataclass
class RunConfig:
    name: str = field(default="run", metadata={"help": "run name: the run directory is <out_root>/<name>"})
    out_root: str = field(default="runs", metadata={"help": "parent of run directories"})
    model: str = field(default=DEFAULT_MODEL, metadata={"help": "base model spec (models.load_model)"})
    seed: int = field(default=0, metadata={"help": "seed of data sampling, generation and training"})
    backend: str = field(default="hf", metadata={"help": "generation backend: hf | vllm"})
    backend_args: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "extra make_generator kwargs (batch_size, dtype, ...); dtype defaults to auto: "
            "bfloat16 only on CUDA with bf16 or a CPU with native bf16 (open_toolace.hardware)"
        },
    )
    progress: bool = field(default=True, metadata={"help": "progress bars"})
    threads: int | str | None = field(
        default="auto",
        metadata={
            "help": "torch threads for the whole run: auto (all cores on a quiet machine, one fewer per "
            "busy core: open_toolace.hardware.resolve_threads), a number, or null (torch's default)"
        },
    )
    bootstrap_from: str | None = field(
        default=None,
        metadata={
            "help": "a run directory whose seed data, query pool, bootstrap adapter and bootstrap BFCL this run "
            "copies instead of making them (its model, seed, backend, seed_data, bootstrap and eval settings "
            "must equal these: pipeline.fork); round ablations then share one bootstrap"
        },
    )
    seed_data: SeedDataConfig = field(default_factory=SeedDataConfig, metadata={"help": "seed data"})
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig, metadata={"help": "stage 1+2"})
    eval: RunEvalConfig = field(default_factory=RunEvalConfig, metadata={"help": "BFCL evaluation"})
    evolve: EvolveConfig = field(default_factory=EvolveConfig, metadata={"help": "stage 3"})


# Settings that may change between a kill and its resume without invalidating finished work.
RESUME_FREE = (
    "name", "out_root", "progress", "backend_args", "evolve.rounds", "threads",
    "bootstrap.train.torch_threads", "evolve.train.torch_threads",
    "bootstrap.train.dataloader_num_workers", "evolve.train.dataloader_num_workers",
    "bootstrap.toolace_r.train.torch_threads", "bootstrap.toolace_r.train.dataloader_num_workers",
    "bootstrap.toolace_r.backend_args",
)  # fmt: skip
