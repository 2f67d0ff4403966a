"""``make bench``'s command line: what to run, and the defaults each mode implies."""

import argparse
from pathlib import Path

from bench.variants import VARIANTS


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (seconds)")
    parser.add_argument("--runs", type=int, default=None, help="runs per variant (median)")
    parser.add_argument("--variants", default=None, help=f"comma list of {','.join(VARIANTS)}")
    parser.add_argument("--soak", type=int, default=None, help="soak connect/disconnect cycles")
    parser.add_argument(
        "--soak-runs",
        type=int,
        default=1,
        help="runs (the last ones) that include the memory tests: idle sockets and soak",
    )
    parser.add_argument(
        "--scale-variants",
        default="project",
        help="comma list of variants that get the scale curve (fresh server, last run); '' = none",
    )
    parser.add_argument("--no-scale", dest="scale_variants", action="store_const", const="")
    parser.add_argument(
        "--only",
        default="",
        help="comma list of scenarios to run (e.g. storm,scale,hs_conc_jwt); default: all",
    )
    parser.add_argument(
        "--multiroom-only", action="store_true", help="only one /ws/ socket against room sockets"
    )
    parser.add_argument("--no-multiroom", dest="multiroom", action="store_false")
    parser.add_argument("--multiroom-runs", type=int, default=None, help="repeats (median)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default results/)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.variants is None:
        args.variants = "project,tutorial,ceiling" if args.quick else ",".join(VARIANTS)
    args.scale_variants = [v for v in args.scale_variants.split(",") if v]
    args.only = [s for s in args.only.split(",") if s]
    args.multiroom = args.multiroom_only or (args.multiroom and not args.only)
    return args
