"""`toolace data`: convert tool-calling data sets to the internal JSONL format, and describe them.

    toolace data convert --from glaive_sharegpt ../shared/data/glaive_toolcall_en_demo.json out/glaive.jsonl
    toolace data convert --from sealtools ../shared/data/sealtools_dev.jsonl out/seal.jsonl --tools TOOLFILE
    toolace data convert --from bfcl simple_python out/bfcl_simple.jsonl      # a category of bfcl-eval
    toolace data stats out/glaive.jsonl [--json] [--grounding lenient]
    toolace data formats

`convert` writes OUT atomically and OUT-stem.rejects.jsonl beside it (line, reason, detail, record for each
source record or turn that could not be converted), and prints read / written / rejected by reason.
A file that cannot be read at all is one error line with its path and line, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

FORMAT_HELP = "input format (default: auto-detect); see `toolace data formats`"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="convert data sets to the internal format; stats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", metavar="{convert,stats,formats}")
    c = sub.add_parser(
        "convert", help="IN (any supported format) -> OUT (internal JSONL) + OUT-stem.rejects.jsonl"
    )
    c.add_argument("--from", dest="fmt", default="auto", help=FORMAT_HELP)
    c.add_argument("input", metavar="IN", help="input file (or a BFCL category name with --from bfcl)")
    c.add_argument("output", metavar="OUT", help="output JSONL file")
    c.add_argument(
        "--tools", help="Seal-Tools tool file (default: sealtools_tools.jsonl / tool.jsonl beside IN)"
    )
    c.add_argument(
        "--answers", help="BFCL possible-answer file (default: possible_answer/<IN name> beside IN)"
    )
    c.add_argument(
        "--turns",
        choices=["decisions", "calls", "all"],
        help="ShareGPT: which assistant turns become examples (docs/data.md)",
    )
    c.add_argument("--distractors", type=int, help="Seal-Tools: extra tools offered per query (default 0)")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.set_defaults(func=cmd_convert)
    s = sub.add_parser(
        "stats", help="samples, tools/calls per sample, parallel / multiple / no-call shares, rule checks"
    )
    s.add_argument("input", metavar="FILE")
    s.add_argument("--from", dest="fmt", default="auto", help=FORMAT_HELP)
    s.add_argument("--tools", help="Seal-Tools tool file, when FILE is Seal-Tools queries")
    s.add_argument(
        "--grounding",
        default="off",
        choices=["off", "lenient", "strict"],
        help="also flag argument strings absent from the user turns",
    )
    s.add_argument("--no-check", dest="check", action="store_false", help="skip the rule checks")
    s.add_argument("--json", action="store_true", help="print the stats as JSON")
    s.set_defaults(func=cmd_stats)
    f = sub.add_parser("formats", help="list the input formats")
    f.set_defaults(func=cmd_formats)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _options(args: argparse.Namespace, fmt: str) -> dict:
    """Reader options that apply to this format; one given for another format is an error, not ignored."""
    from open_toolace.data.adapters import detect_format

    if fmt == "auto":
        fmt = detect_format(args.input)
    wanted = {
        "tools": ("sealtools",),
        "answers": ("bfcl",),
        "turns": ("sharegpt", "toolace_sharegpt", "glaive_sharegpt"),
        "distractors": ("sealtools",),
    }
    opts = {}
    for name, formats in wanted.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if fmt not in formats:
            raise ValueError(f"--{name} applies to {', '.join(formats)} input, not {fmt}")
        opts[name] = value
    return opts


def cmd_convert(args: argparse.Namespace) -> int:
    from open_toolace.data.adapters import convert, detect_format
    from open_toolace.io import DataFileError

    try:
        fmt = detect_format(args.input) if args.fmt == "auto" else args.fmt
        summary = convert(args.input, args.output, fmt, **_options(args, fmt))
    except (DataFileError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    print(f"{summary['input']} ({summary['format']}) -> {summary['output']}")
    print(f"  read      {summary['read']:>7} source records")
    print(f"  written   {summary['written']:>7} examples  {_fmt_counts(summary['written_by_kind'])}")
    print(f"  rejected  {summary['rejected']:>7}           {_fmt_counts(summary['rejected_by_reason'])}")
    print(f"  rejects file: {summary['rejects_file']}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from open_toolace.data.adapters import detect_format, read_examples
    from open_toolace.data.stats import render_stats, stats
    from open_toolace.io import DataFileError

    try:
        fmt = detect_format(args.input) if args.fmt == "auto" else args.fmt
        examples, rejects = read_examples(args.input, fmt, **_options(args, fmt))
    except (DataFileError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = stats(examples, check=args.check, grounding=args.grounding)
    # what the default sub-task mixture of these examples would supervise, task by task
    from open_toolace.training.mixture import build_mixture

    report = build_mixture(examples)[1]
    s["supervised_tokens"], s["token_count"] = report["supervised_tokens"], report["token_count"]
    s["format"] = fmt
    s["rejected"] = len(rejects)
    s["rejected_by_reason"] = dict(_count(r["reason"] for r in rejects))
    if args.json:
        print(json.dumps(s, indent=2, ensure_ascii=False))
        return 0
    print(render_stats(s, title=f"{args.input} ({fmt})"), end="")
    if rejects:
        first = rejects[0]
        print(
            f"\n{len(rejects)} source record(s) not readable as examples: {_fmt_counts(s['rejected_by_reason'])}"
            f" (first: line {first['line']}, {first['reason']})"
        )
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    from open_toolace.data.adapters import FORMAT_HELP, FORMATS

    for name in FORMATS:
        print(f"{name:<18} {FORMAT_HELP.get(name, '')}")
    return 0


def _count(items) -> list[tuple[str, int]]:
    from collections import Counter

    return Counter(items).most_common()


def _fmt_counts(d: dict) -> str:
    return "(" + ", ".join(f"{k}: {v}" for k, v in d.items()) + ")" if d else ""
