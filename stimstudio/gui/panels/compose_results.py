"""What a Compose run leaves: the methods' names, the metrics as text, the result as project
data, the name of an anchor kept from it, and the results written to a folder.

Kept apart from the page (`compose.py`), which runs the composition and shows it: these are the
results as data, the same whether they were just made or come back with a saved project.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

METHOD_TITLES = {
    "stitch": "Stitch",
    "poisson": "Poisson blend",
    "encoder": "Encoder only",
    "optimized": "Optimized (Eq. 4)",
    "stylemix": "Style mix",
    "stylemix+opt": "Style mix + Eq. 4",
}
METHOD_SHORT = {
    "encoder": "encoder",
    "optimized": "Eq. 4",
    "stylemix": "style mix",
    "stylemix+opt": "style mix + Eq. 4",
}
METHOD_TIPS = {
    "stitch": "The texture pasted with a feathered edge: the input of the generator",
    "poisson": "Gradient-domain (Poisson) blending of the texture into the template",
    "encoder": "The encoder's code of the stitched image, rendered by the generator",
    "optimized": "Masked optimisation (Eq. 4) from the encoder's code: the paper's method",
    "stylemix": "Fine layers from the texture's code, coarse and middle from the template's",
    "stylemix+opt": "Eq. 4 started from the style mix",
}
METRICS_TIP = (
    "Inside the mask, against the pasted texture: PSNR (dB, higher = closer), SSIM (1 = same), "
    "detail (correlation of fine detail, 1 = same).\nSeam: edge energy along the mask border "
    "relative to the template's own (1 = no visible seam).\nShape: SSIM of the coarse image "
    "outside the mask against the template (1 = layout kept)."
)


def metrics_text(m: dict) -> str:
    """One short line per metric, so five tiles fit side by side."""
    lines = [
        f"PSNR {m['psnr_in_mask']:.1f}",
        f"SSIM {m['ssim_in_mask']:.2f}",
        f"detail {m['detail_in_mask']:.2f}",
        f"seam {m['seam_strength']:.2f}",
    ]
    if "shape_agreement" in m:
        lines.append(f"shape {m['shape_agreement']:.2f}")
    return "\n".join(lines)


def result_record(
    comp, model, settings, placement: dict, seconds: float, sources: dict | None = None
) -> dict:
    """A Composite as plain project data; sources: the texture's and template's film paths."""
    return {
        "images": dict(comp.images),
        "metrics": {k: {n: float(v) for n, v in m.items()} for k, m in comp.metrics.items()},
        "latents": {k: lat.wplus for k, lat in comp.latents.items()},
        "latent_sources": {k: lat.source for k, lat in comp.latents.items()},
        # the noise maps a result renders with (noise encoder or fitted), by method
        "latent_noise": {k: lat.noise for k, lat in comp.latents.items() if lat.noise is not None},
        "mask": comp.mask,
        "history": comp.history,
        "perceptual": comp.perceptual,
        "settings": asdict(settings),
        "placement": dict(placement),
        "seconds": round(seconds, 2),
        "model_sha256": model.sha256,
        "model_name": model.name,
        "model": model.tag(),  # name, sha256, resolution, pixel size
        "texture_file": (sources or {}).get("texture"),
        "template_file": (sources or {}).get("template"),
        # where the template was cut ({file, x, y, size, spacing_mm}): the Film view and
        # `stimstudio insert --at original` put the lesion back there
        "template_cut": (sources or {}).get("template_cut") or None,
    }


def anchor_name(res: dict, method: str) -> str:
    """'mdb181 on mdb003 · Eq. 4': which texture, which template, which method."""
    short = METHOD_SHORT.get(method, METHOD_TITLES.get(method, method))
    tex, tpl = res.get("texture_file"), res.get("template_file")
    if tex and tpl:
        return f"{Path(tex).stem} on {Path(tpl).stem} · {short}"
    return METHOD_TITLES.get(method, method)


def write_results(res: dict, folder: Path) -> list[str]:
    """Each method's image (PNG) and metrics.json into `folder`; returns the image names."""
    from stimstudio.core.imageio import save_image
    from stimstudio.core.model import atomic_write_bytes

    names = []
    for name, img in res["images"].items():
        out = folder / f"{name.replace('+', '-')}.png"
        save_image(out, img)
        names.append(out.name)
    meta = {k: res[k] for k in ("metrics", "settings", "placement", "perceptual", "seconds")}
    meta["model"] = res.get("model") or {
        "name": res.get("model_name"),
        "sha256": res.get("model_sha256"),
    }
    if res.get("template_cut"):
        meta["template_cut"] = res["template_cut"]
    if res.get("mask") is not None:  # the lesion's outline, for `stimstudio insert`
        save_image(folder / "mask.png", res["mask"], model_range=False)
    atomic_write_bytes(folder / "metrics.json", json.dumps(meta, indent=2).encode())
    return names
