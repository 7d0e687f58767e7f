"""Small custom Python models the pipeline integration tests chain, written to a directory.

Each is arithmetic a reader can check by hand: `double` (y = 2x), `plus-one` (y = x + 1),
`add` (sum = left + right), `choose` (emits `pos` or `neg` depending on the sign of x's sum, so
a trigger can skip one branch), `picky` (fails on negative values, with its own message),
and `slow` (sleeps x[0] seconds, then echoes x).
"""

from __future__ import annotations

from pathlib import Path

FP32_IN = "inputs:\n  - {name: x, datatype: FP32, shape: [-1]}\n"
FP32_OUT = "outputs:\n  - {name: y, datatype: FP32, shape: [-1]}\n"

MODELS: dict[str, tuple[str, str]] = {
    "double": (
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        return {'y': inputs['x'] * 2}\n",
        FP32_IN + FP32_OUT,
    ),
    "plus-one": (
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        return {'y': inputs['x'] + 1}\n",
        FP32_IN + FP32_OUT,
    ),
    "add": (
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        return {'sum': inputs['left'] + inputs['right']}\n",
        "inputs:\n"
        "  - {name: left, datatype: FP32, shape: [-1]}\n"
        "  - {name: right, datatype: FP32, shape: [-1]}\n"
        "outputs:\n  - {name: sum, datatype: FP32, shape: [-1]}\n",
    ),
    "choose": (
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        x = inputs['x']\n"
        "        return {'pos': x} if float(x.sum()) > 0 else {'neg': x}\n",
        FP32_IN + "outputs:\n"
        "  - {name: pos, datatype: FP32, shape: [-1]}\n"
        "  - {name: neg, datatype: FP32, shape: [-1]}\n",
    ),
    "picky": (
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        x = inputs['x']\n"
        "        if (x < 0).any():\n"
        "            raise ValueError(f'negative values are not allowed: {float(x.min())}')\n"
        "        return {'y': x}\n",
        FP32_IN + FP32_OUT,
    ),
    "slow": (
        "import time\n\n\n"
        "class Model:\n"
        "    def predict(self, inputs, parameters):\n"
        "        x = inputs['x']\n"
        "        time.sleep(float(x.reshape(-1)[0]))\n"
        "        return {'y': x}\n",
        FP32_IN + FP32_OUT,
    ),
}


def write_models(root: Path) -> Path:
    """Every model under `root/<name>`; returns `root`."""
    for name, (source, settings) in MODELS.items():
        model_dir = root / name
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model.py").write_text(source)
        (model_dir / "model-settings.yaml").write_text(settings)
    return root
