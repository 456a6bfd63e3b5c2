"""`stimstudio bench`: run the benchmark suite (stimstudio/bench/) and write BENCHMARKS.md.

The figures go to benchmarks/figures/ beside the report (BENCHMARKS.md links them there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from .common import UserError, add_common, emit


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure speed and quality against baselines")
    b.add_argument(
        "--weights", help="model file or name, e.g. minimias-128 (default: the shipped model)"
    )
    b.add_argument("--data", help="patch data set folder (held-out.npz); default: phantoms")
    size = b.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer patches and steps")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="every section at toy sizes, to check that each runs (its numbers mean nothing)",
    )
    b.add_argument("--only", action="append", help="run only this section (repeatable)")
    b.add_argument("--out", default="BENCHMARKS.md", help="markdown report to write")
    b.add_argument(
        "--note", help="how the machine was loaded during the run (written under the header)"
    )
    b.add_argument(
        "--from-json",
        metavar="JSON",
        help="re-write the report from an earlier run's BENCHMARKS.json (measures nothing)",
    )
    add_common(b)
    b.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from ..bench import report, suite  # torch: imported only when the verb runs
    from ..bench.sizes import FULL, QUICK, SMOKE

    if args.from_json:
        try:
            res = json.loads(Path(args.from_json).read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{args.from_json} is not a readable benchmark result: {exc}") from None
        if not isinstance(res, dict) or "machine" not in res:
            raise UserError(f"{args.from_json} is not a BENCHMARKS.json (no 'machine' entry)")
    else:
        res = suite.run(
            args.weights,
            args.data,
            SMOKE if args.smoke else QUICK if args.quick else FULL,
            args.only,
            progress=None
            if args.quiet
            else lambda name: print(f"bench: {name} ...", file=sys.stderr),
        )
    if args.note:
        res["note"] = args.note
    out = Path(args.out)
    md = report.markdown(res, out.resolve().parent / "benchmarks" / "figures")
    atomic_write_bytes(out, md.encode())
    suite.save_json(res, out.with_suffix(".json"))
    emit(args, res, md)
    return 0
