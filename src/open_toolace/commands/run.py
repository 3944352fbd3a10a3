"""`toolace run CONFIG [key=value ...]` (the end-to-end ToolACE-DEV pipeline) and `toolace report RUN`.

    toolace run configs/demo.yaml                        # runs/demo/; run it again to resume after a kill
    toolace run configs/demo.yaml evolve.rounds=3        # extend a run by a round
    toolace run configs/run_tiny.yaml name=smoke --out /tmp/smoke
    toolace report runs/demo                             # re-render runs/demo/report.md + accuracy.png

Overrides are dotted `key=value` pairs over the YAML (docs/run.md lists the sections).
"""

from __future__ import annotations

import argparse
import sys


def fields_help(cls: type, prefix: str = "", instance: object = None) -> str:
    """One line per leaf field with its dotted name (nested sections expanded), default and help. A nested
    section shows its own defaults (e.g. `evolve.train`'s 1 epoch), not those of its class."""
    import dataclasses

    lines = []
    for f in dataclasses.fields(cls):
        if instance is not None:
            default = getattr(instance, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            lines.append(f"{prefix}{f.name}: {f.metadata.get('help', '')}")
            lines.append(fields_help(type(default), f"{prefix}{f.name}.", default))
        else:
            lines.append(f"  {prefix}{f.name} = {default!r}: {f.metadata.get('help', '')}")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    from open_toolace.pipeline.config import RunConfig

    p = subparsers.add_parser(
        "run",
        help="seed data -> bootstrap LoRA -> BFCL -> N self-evolution rounds -> report (resumable)",
        description=__doc__,
        epilog="RunConfig fields (dotted overrides, e.g. evolve.k=5):\n" + fields_help(RunConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="RunConfig YAML (configs/demo.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--out", help="run directory (default: <out_root>/<name>)")
    p.set_defaults(func=cmd_run)

    r = subparsers.add_parser("report", help="re-render the report.md + accuracy.png of a run directory")
    r.add_argument("run_dir", help="a `toolace run` directory")
    r.set_defaults(func=cmd_report)


def cmd_run(args: argparse.Namespace) -> int:
    from open_toolace.config import ConfigError, load_config
    from open_toolace.pipeline.run import RunConfig, run

    try:
        cfg = load_config(RunConfig, args.config, args.overrides)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from open_toolace.io import DirBusyError

    try:
        scores = run(cfg, run_dir=args.out)
    except (ConfigError, DirBusyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        "BFCL overall: "
        + ", ".join(f"{k} {'—' if v is None else f'{100 * v:.1f}'}" for k, v in scores.items())
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from open_toolace.pipeline.report import write_run_report

    try:
        path = write_run_report(args.run_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0
