"""Draw docs/experiments/classifier-curve.png: the classifier two-sample test of every
generator measured.

The numbers are the measurements recorded in docs/experiments/ (each table names its run, its
machine and its protocol); this script only draws them, so the figure can be redrawn when a
new measurement is added. Left: held-out patients, the card's classifier (image + detail
channel, 1000 fit / 1000 test per side; filled: mean of 3 draws, open: one draw). Right:
`train select` on the training films (the same split, seeds and classifier for every file)
along the CPU continuations of the shipped file.

    python scripts/classifier_curve.py docs/experiments/classifier-curve.png
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGET, REAL_VS_REAL, REAL_VS_REAL_CI = 0.75, 0.595, (0.573, 0.616)

# kimg, accuracy, draws, label, a CPU snapshot?, label offset in points (docs/experiments/:
# "The classifier test sees fine detail", "A generator and encoder burst on the H200",
# "Averaging snapshots, and the 432-kimg card")
CARD = [
    (52.0, 0.995, 3, "52", False, (8, -4)),
    (428.0, 0.920, 3, "428 shipped", False, (-62, 10)),
    (520.0, 0.940, 1, "520", False, (-20, 10)),
    (632.6, 0.943, 3, "632.6", False, (-30, 10)),
    (432.0, 0.906, 3, "432 CPU, chosen", True, (8, -14)),
]
SHIPPED_SELECT = 0.9225
# kimg -> accuracy per run ("Choosing snapshots", "Averaging snapshots", "Whole patches",
# "Drawing only the samples that look real")
SELECT = {
    "crop recipe, seed 5": [(432, 0.865), (434, 0.901), (436, 0.904), (460, 0.946)],
    "crop recipe, seed 7": [(430, 0.912), (432, 0.906), (434, 0.922)],
    "crop recipe, seed 11": [(430, 0.9215), (432, 0.9205), (434, 0.928), (436, 0.9175)],
    "whole patches (--crop 0)": [(430, 0.942), (432, 0.955)],
    "whole patches, lr 0.0005": [(430, 0.933), (432, 0.957)],
}


def main(out: str) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.15, 1]})
    for ax in (ax1, ax2):
        ax.axhline(TARGET, color="tab:green", ls="--", lw=1)
        ax.axhline(0.5, color="0.6", ls=":", lw=1)
        ax.set_ylim(0.45, 1.01)
        ax.set_xlabel("generator kimg")
    ax1.axhspan(*REAL_VS_REAL_CI, color="0.85", lw=0)
    ax1.text(
        60,
        REAL_VS_REAL,
        f"real vs real (held-out vs training patients) {REAL_VS_REAL}",
        va="center",
        fontsize=8,
    )
    ax1.text(60, TARGET + 0.007, f"target ≤ {TARGET}", color="tab:green", fontsize=8)
    for k, a, draws, label, cpu, offset in CARD:
        ax1.plot(
            k,
            a,
            "o" if draws == 3 else "s",
            mfc="white" if draws == 1 else None,
            color="tab:red" if cpu else "k",
        )
        ax1.annotate(
            f"{label} {a:.3f}", (k, a), fontsize=7, xytext=offset, textcoords="offset points"
        )
    ax1.plot(*zip(*sorted((c[0], c[1]) for c in CARD if not c[4])), color="k", lw=0.8)
    ax1.set_ylabel("classifier accuracy, generated vs real")
    ax1.set_title("held-out patients (the card's classifier test)", fontsize=10)
    ax1.set_xlim(0, 700)
    ax2.axhline(SHIPPED_SELECT, color="k", lw=0.8)
    ax2.text(437, SHIPPED_SELECT + 0.008, f"shipped 428 kimg: {SHIPPED_SELECT}", fontsize=8)
    for name, pts in SELECT.items():
        ax2.plot(*zip(*pts), "o-", ms=4, label=name)
    ax2.set_title("CPU runs from the shipped file (train select)", fontsize=10)
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/classifier-curve.png")
