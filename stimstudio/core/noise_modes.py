"""The noise modes of a seed's sample, apart from `core.generate` (which imports torch) so the
CLI's parsers and the app's window can list them at start.

- seed: the seed's own per-layer noise maps, drawn from it (the default; see core.generate)
- const: the model's one set of fixed maps, shared by every seed (how seeds rendered before
  they had their own; different seeds then share fine texture)
- random: fresh maps at every draw (kept with the latent, so an anchor renders as shown)
- none: no noise (smoother)
"""

NOISE_MODES = ("seed", "const", "random", "none")
