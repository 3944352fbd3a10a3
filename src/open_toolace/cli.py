"""`toolace` command line: a thin dispatcher. Each subcommand lives in `open_toolace.commands.<name>`,
which exposes `register(subparsers)`; modules import heavy libraries (torch, transformers) only inside
the functions that need them, so `toolace --help` and `toolace data ...` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module holding its `register(subparsers)`; a plain dict, not a registry.
COMMANDS: dict[str, str] = {
    "data": "open_toolace.commands.data",
    "infer": "open_toolace.commands.infer",
    "eval": "open_toolace.commands.eval",
    "train": "open_toolace.commands.train",
    "export": "open_toolace.commands.train",
    "synth": "open_toolace.commands.synth",
    "run": "open_toolace.commands.run",
    "report": "open_toolace.commands.run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolace", description="open-toolace: tool learning for small open models"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for module_name in COMMANDS.values():
        if module_name in seen:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # subcommand not built yet
        module.register(sub)
        seen.add(module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
