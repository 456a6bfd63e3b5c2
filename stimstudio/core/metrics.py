"""Image-quality numbers used across compose, evaluation and benchmarks.

Images are float arrays in [-1, 1] (the generator's range) or [0, 1]; pass `data_range`.
Masks are float weights in [0, 1]; a metric "inside the mask" weights pixels by it.

Why detail fidelity: on smooth mammogram patches PSNR says little (a constant image at the
patch mean already scores ~23.5 dB); the correlation of the high-pass parts (image minus its
Gaussian blur, sigma = 2 px) says whether the fine texture came through.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity


def _w(mask, shape):
    if mask is None:
        return np.ones(shape, np.float64)
    m = np.asarray(mask, np.float64)
    if m.sum() <= 0:
        raise ValueError("mask is empty")
    return m


def psnr(a: np.ndarray, b: np.ndarray, mask=None, data_range: float = 2.0) -> float:
    w = _w(mask, a.shape)
    mse = float((w * (a.astype(np.float64) - b) ** 2).sum() / w.sum())
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, mask=None, data_range: float = 2.0) -> float:
    _, smap = structural_similarity(
        a.astype(np.float64), b.astype(np.float64), data_range=data_range, full=True
    )
    w = _w(mask, a.shape)
    return float((w * smap).sum() / w.sum())


def highpass(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    img = img.astype(np.float64)
    return img - cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def detail_fidelity(a: np.ndarray, b: np.ndarray, mask=None, sigma: float = 2.0) -> float:
    """Weighted Pearson correlation of the high-pass parts of a and b."""
    ha, hb = highpass(a, sigma), highpass(b, sigma)
    w = _w(mask, a.shape)
    w = w / w.sum()
    ma, mb = (w * ha).sum(), (w * hb).sum()
    da, db = ha - ma, hb - mb
    cov = (w * da * db).sum()
    den = np.sqrt((w * da * da).sum() * (w * db * db).sum())
    return float(cov / den) if den > 0 else 0.0


def boundary_band(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within `width` of the 0.5 level line of the mask."""
    binary = (np.asarray(mask) >= 0.5).astype(np.uint8)
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return (cv2.dilate(binary, k) - cv2.erode(binary, k)).astype(bool)


def gradient_energy(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float64)
    gx = cv2.Sobel(img, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_64F, 0, 1, ksize=3)
    return gx * gx + gy * gy


def seam_strength(img: np.ndarray, template: np.ndarray, mask: np.ndarray, width: int = 2) -> float:
    """Gradient energy along the mask boundary, relative to the template's own there.

    1.0 = the boundary is as busy as the template already was (no visible seam);
    a hard paste of a different texture gives values well above 1.
    """
    band = boundary_band(mask, width)
    if not band.any():
        raise ValueError("mask has no boundary inside the image")
    e_img = gradient_energy(img)[band].mean()
    e_ref = gradient_energy(template)[band].mean()
    return float(e_img / max(e_ref, 1e-12))


def shape_agreement(img: np.ndarray, template: np.ndarray, mask=None, sigma: float = 4.0) -> float:
    """SSIM of the low-pass images outside the mask: did the template's layout survive?"""
    blur = lambda a: cv2.GaussianBlur(a.astype(np.float64), (0, 0), sigma)  # noqa: E731
    outside = None if mask is None else 1.0 - np.asarray(mask, np.float64)
    if outside is not None and outside.sum() <= 0:
        outside = None
    return ssim(blur(img), blur(template), outside)


def image_metrics(img, texture, template, mask) -> dict:
    """The Fig. 4 numbers for one method: fidelity to the texture inside, seam at the edge,
    and agreement with the template's coarse shape outside."""
    inside = np.asarray(mask, np.float64)
    return {
        "psnr_in_mask": psnr(img, texture, inside),
        "ssim_in_mask": ssim(img, texture, inside),
        "detail_in_mask": detail_fidelity(img, texture, inside),
        "seam_strength": seam_strength(img, template, mask),
        "shape_agreement": shape_agreement(img, template, mask),
    }
