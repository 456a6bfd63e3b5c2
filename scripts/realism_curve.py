"""Realism against fidelity of what inversion outputs (issue 37), measured on the held-out
patients with the card's classifier two-sample test.

Arms: random samples (the generator's own realism, the target), encoder reconstructions with
the noise encoder's maps, the same with each layer's code pulled into the generator's W to a
radius (core.realism.WPrior.project), and optionally Eq. 4 results (--eq4 N: costly, ~35 CPU s
per image on a 2-core CPU). The classifier learns real from each arm on training patients'
patches (reconstructions of other training patches), and is tested on held-out patients' real
patches against the arm's outputs for other held-out patches. Fidelity: PSNR and detail of the
held-out outputs against their own targets.

    python scripts/realism_curve.py --data DATA --weights W --out rows.jsonl --arms samples,encoder,r8,r4,r2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from stimstudio.core.model import load_model
from stimstudio.train.evaluate.c2st import two_sample_test
from stimstudio.train.evaluate.data import generate_uint8, load_eval_data, to_uint8
from stimstudio.train.evaluate.realism import encoder_outputs
from stimstudio.train.evaluate.reconstruction import _quality
from stimstudio.train.evaluate.settings import EvalSettings


def reconstruct(model, targets_u8, radius, batch=32):
    x = targets_u8.astype(np.float32) / 127.5 - 1
    return to_uint8(encoder_outputs(model, x, None, batch, radius))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--arms", default="samples,encoder,r8,r4,r2,r1")
    ap.add_argument("--fit", type=int, default=1000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(a.weights)
    train, held, _ = load_eval_data(a.data)
    rng = np.random.default_rng(0)
    tr = rng.permutation(len(train.patches))
    he = rng.permutation(len(held.patches))
    fit_real = train.patches[tr[: a.fit]]
    fit_src = train.patches[tr[a.fit : 2 * a.fit]]  # reconstructed: other films' patches too
    test_real = held.patches[he[: a.test]]
    test_src = held.patches[he[a.test : 2 * a.test]]
    s = EvalSettings(c2st_fit=a.fit, c2st_test=a.test)
    cpu = torch.backends.cpu.get_cpu_capability()
    for arm in a.arms.split(","):
        t0 = time.process_time()
        if arm == "samples":
            fit_fake = generate_uint8(model, a.fit, 7_000_002)
            test_fake = generate_uint8(model, a.test, 7_000_003)
            q = {}
        else:
            radius = None if arm == "encoder" else float(arm[1:])
            fit_fake = reconstruct(model, fit_src, radius)
            test_fake = reconstruct(model, test_src, radius)
            f = lambda u: u.astype(np.float32) / 127.5 - 1  # noqa: E731
            rows = [_quality(f(o), f(t)) for o, t in zip(test_fake, test_src)]
            q = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        gen_s = time.process_time() - t0
        res = two_sample_test(fit_real, fit_fake, test_real, test_fake, s, seed=0)
        row = {
            "arm": arm,
            "accuracy": res["accuracy"],
            "ci95": res["accuracy_ci95"],
            "auc": res["auc"],
            **q,
            "gen_cpu_s": round(gen_s, 1),
            "cpu": cpu,
            "fit": a.fit,
            "test": a.test,
            "weights": a.weights,
        }
        print(json.dumps(row), flush=True)
        with open(a.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
