"""Opacity transfer functions over the display range 0..1 (after ``normalize``).

Each preset is a curve of ``N_TABLE`` opacities, one per equal step of the display value;
VTK interpolates linearly between them. The CLI reads ``PRESETS`` and ``PRESET_HELP`` when it
starts, so numpy is imported where a curve is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from volviz.errors import VolvizError

if TYPE_CHECKING:
    import numpy as np

N_TABLE = 256
PRESETS = ("ramp", "linear", "sigmoid", "sparse", "diverging")
PRESET_HELP = (
    "ramp: the lowest third transparent, then rising; linear: opacity = value; "
    "sigmoid: a soft step at mid-range; sparse: only exact zeros hidden (ReLU maps); "
    "diverging: transparent at mid-range (zero of --normalize symmetric), opaque at both ends"
)
# The spine's look: strongly active voxels stand out instead of a fog of everything.
RAMP = [0.0, 0.0, 0.02, 0.12, 0.35, 0.7]


def opacity_curve(
    preset: str = "ramp", *, scale: float = 1.0, floor: float = 0.0, n: int = N_TABLE
) -> np.ndarray:
    """Opacity of each display value.

    Parameters
    ----------
    preset : {"ramp", "linear", "sigmoid", "sparse", "diverging"}
    scale : float
        Multiplies every opacity (clipped to 1); the viewer's opacity slider.
    floor : float
        Display values below it are transparent; the viewer's threshold slider.
        For ``diverging`` it applies to the distance from mid-range.
    n : int
        Number of entries.

    Returns
    -------
    ndarray of shape (n,)
        Opacities in 0..1 for display values ``linspace(0, 1, n)``.
    """
    import numpy as np

    if scale < 0 or not np.isfinite(scale):
        raise VolvizError("must be a number >= 0", param="opacity_scale", value=scale)
    v = np.linspace(0.0, 1.0, n)
    if preset == "ramp":
        curve = np.interp(v, np.linspace(0.0, 1.0, len(RAMP)), RAMP)
    elif preset == "linear":
        curve = v.copy()
    elif preset == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-12.0 * (v - 0.5)))
        curve = (s - s[0]) / (s[-1] - s[0])
    elif preset == "sparse":
        # Display 0 is a ReLU zero (or the clip floor): hide it, show everything else.
        curve = np.where(v > 0.0, 0.04 + 0.66 * v, 0.0)
    elif preset == "diverging":
        curve = 0.8 * np.abs(2.0 * v - 1.0) ** 1.5
    else:
        msg = f"is not one of {', '.join(PRESETS)}"
        raise VolvizError(msg, param="preset", value=preset)
    level = np.abs(2.0 * v - 1.0) if preset == "diverging" else v
    curve = np.where(level < floor, 0.0, curve)
    return np.clip(curve * scale, 0.0, 1.0)
