"""Shared CLI plumbing: the error contract, JSON output, progress bars, atomic output paths."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.compute_choices import DEVICE_CHOICES


class UserError(Exception):
    """An option problem found by the CLI itself (exit 2, one line)."""


def progress_enabled(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def tqdm_bar(args, **kwargs):
    from tqdm import tqdm  # ~0.2 s: every command line (--help too) imports this module

    return tqdm(disable=not progress_enabled(args), file=sys.stderr, dynamic_ncols=True, **kwargs)


def emit(args, result: dict, text: str) -> None:
    """Results to stdout: one JSON document with --json, else the human text."""
    if getattr(args, "json", False):
        from ..core.jsonable import to_jsonable  # numpy: imported only when it is needed

        print(json.dumps(to_jsonable(result), indent=2))
    else:
        print(text)


def add_common(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_model_options(p) -> None:
    p.add_argument(
        "--weights",
        help="model: a .safetensors file or a model name in weights/, e.g. minimias-128 "
        "(default: the shipped model)",
    )
    p.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    p.add_argument(
        "--precision",
        default="auto",
        help="auto (fp32) | fp32 | bf16 (fast only where the hardware has it natively) | fp16",
    )
    p.add_argument("--vgg16", help="local torchvision vgg16 state-dict for the perceptual loss")


def load_model_for(args):
    """The model and compute settings every model verb uses (--weights, --device, --precision)."""
    from ..core.device import pick_compute  # torch: only the model verbs pay for it
    from ..core.model import load_model

    compute = pick_compute(args.device, args.precision)
    model = load_model(args.weights, device=compute.device)
    return model, compute


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to replace it")


def add_continuum_options(p, method, spacing, shown=None) -> None:
    """--method and --frame-spacing (alias --spacing) of a continuum, one wording for every
    verb. `shown`: the defaults to name in --help when the parser's default is None (the
    value is then taken from a project or the export's settings)."""
    shown_method, shown_spacing = shown or (method, spacing)
    p.add_argument(
        "--method",
        default=method,
        choices=["lerp", "slerp"],
        help=f"interpolation between anchors (default: {shown_method})",
    )
    p.add_argument(
        "--frame-spacing",
        "--spacing",  # the older name, kept as an alias
        dest="spacing",
        default=spacing,
        choices=["latent", "perceptual", "pixel"],
        help="frames at equal steps in latent space, or even steps in the model's perceptual "
        f"features or in pixels; --spacing is an alias (default: {shown_spacing})",
    )


def add_orientation_option(p) -> None:
    """`--orientation` of seed samples (core.orientation), default core.defaults.SEED's."""
    from ..core.defaults import SEED
    from ..core.orientation import ORIENTATION_MODES

    p.add_argument(
        "--orientation",
        choices=ORIENTATION_MODES,
        default=SEED.orientation,
        help="how seed samples are shown: random (default: each seed one of the square's 8 "
        "symmetries, drawn from the seed), as-generated, or one for all (mirror first, then a "
        "clockwise turn); saved with each latent, so regenerate reproduces it",
    )


class DefaultsShown(argparse.HelpFormatter):
    """Every option's default in its help line (unless the line already says it, or the
    option is a plain switch or required)."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if (
            "default" in text
            or d is None
            or d is False
            or d is argparse.SUPPRESS
            or action.required
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"
