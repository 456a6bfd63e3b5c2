"""How tests/data/project_v1.stimproj was made: with the app's own writer as it was before
core.project existed (gui/project.py at commit 570f7e1), so the fixture is a file that app wrote.

    git show 570f7e1:stimstudio/gui/project.py > /tmp/project_570f7e1.py
    python tests/data/make_project_v1.py /tmp/project_570f7e1.py
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from stimstudio.core.generate import sample
from tests.conftest import make_tiny_model, smooth_image

# the old module, loaded inside stimstudio.gui so that its relative imports resolve
spec = importlib.util.spec_from_file_location("stimstudio.gui.project_570f7e1", sys.argv[1])
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
default_state, read_project, write_project = old.default_state, old.read_project, old.write_project

model = make_tiny_model()
R = model.resolution
state = default_state()
state["library"] = ["/data/mias/mdb001.pgm", "/data/mias/mdb002.pgm"]
state["current"] = None  # the film shown: none (the app would try to read it)
src = {"file": "/data/mias/mdb001.pgm", "x": 40, "y": 60, "size": 96, "spacing_mm": [0.2, 0.2]}
les = np.zeros((R, R), np.uint8)
les[12:20, 12:20] = 1
state["texture"] = {"image": smooth_image(1, R), "resolution": R, "source": src, "lesion_mask": les}
state["template"] = {"image": smooth_image(2, R), "resolution": R, "source": dict(src, x=300)}
state["mask"] = {
    "polygon": np.array([[10, 10], [22, 10], [22, 22], [10, 22]], np.float64),
    "array": None,
    "feather": 2.5,
    "source": "polygon",
}
state["placement"] = {"dx": 2.0, "dy": -1.0, "scale": 1.1, "angle": 15.0}
anchors = []
for i, s in enumerate((1, 2, 3)):
    lat, img = sample(model, s)
    anchors.append(
        {
            "id": f"a{i + 1}",
            "name": f"Seed {s}",
            "wplus": lat.wplus,
            "source": lat.source,
            "model_sha256": None,
            "image": img,
        }
    )
state["anchors"] = anchors
state["path"] = dict(
    state["path"],
    anchors=["a1", "a2", "a3"],
    frames=7,
    loop=True,
    method="slerp",
    spacing="latent",
    fps=10,
)
state["generator"] = dict(state["generator"], seed=3.0, sources=["a2"])
state["view"] = {"mask_opacity": 0.3}
state["result"] = None  # a compose result is plain data the app draws; left out here
# the computed frames under their key as v1 files hold it (since issue 40: continuum_frames)
state["path_frames"] = {
    "key": json.dumps([["a1", "a2", "a3"], 7, True, "slerp", "latent", None]),
    "positions": np.linspace(0, 3, 7, endpoint=False),
    "distances": np.ones(7),
    "metric": "perceptual",
    "spacing": "latent",
    "cv": 0.0,
    "images": np.zeros((7, R, R), np.uint8),
}
out = Path(__file__).with_name("project_v1.stimproj")
write_project(out, state, {"name": "tiny", "path": None, "sha256": None, "resolution": R})
st, meta = read_project(out)
print(out.stat().st_size, meta)
