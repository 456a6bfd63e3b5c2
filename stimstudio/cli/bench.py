"""`stimstudio bench`: run the benchmark suite (benchmarks/) and write BENCHMARKS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.atomic import atomic_write_bytes
from .common import UserError, add_common, emit


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure speed and quality against baselines")
    b.add_argument("--weights", help="model file (default: the shipped model)")
    b.add_argument("--data", help="patch data set folder (held-out.npz); default: phantoms")
    b.add_argument("--quick", action="store_true", help="fewer patches and steps")
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


def _suite():
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "suite.py").is_file():
        raise UserError("benchmarks/ not found: run `stimstudio bench` from a source checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # importable only once the checkout is on sys.path (and they import torch)
    import benchmarks.report as report
    import benchmarks.suite as suite

    return root, suite, report


def cmd_bench(args) -> int:
    root, suite, report = _suite()
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
            args.quick,
            args.only,
            progress=None
            if args.quiet
            else lambda name: print(f"bench: {name} ...", file=sys.stderr),
        )
    if args.note:
        res["note"] = args.note
    out = Path(args.out)
    md = report.markdown(res, root / "benchmarks" / "figures")
    atomic_write_bytes(out, md.encode())
    suite.save_json(res, out.with_suffix(".json"))
    emit(args, res, md)
    return 0
