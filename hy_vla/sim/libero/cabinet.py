"""The drawers of LIBERO's wooden and white cabinets, measured on their MuJoCo models (one geometry for both).

Three drawers (joints top, middle, bottom) slide along the cabinet's -y to open, at most 0.16 m. A drawer's region
site is the centre of its inside; its handle bar (1.6 cm thick) is 11.3 cm in front of the site and 0.6 cm below
it, and the inside of its front wall 8.1 cm in front of the site. Everything is read in the cabinet's frame, so it
holds for any placement of the cabinet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hy_vla.sim.libero.env import JOINTS_KEY, POSITIONS_KEY, ROTATIONS_KEY

CABINETS = ("wooden_cabinet", "white_cabinet")  # the cabinets with this drawer geometry
LEVELS = ("top", "middle", "bottom")  # the cabinet's drawer joints, in order
HANDLE_OFFSET = np.array([-0.006, -0.113, -0.006])  # centre of the handle bar from the region site, cabinet frame
PULL_LOCAL = np.array([0.0, -1.0, 0.0])  # opening direction, cabinet frame


def parse_drawer(region: str, what: str) -> tuple[str, int]:
    """(cabinet name, drawer index) of a drawer region such as ``white_cabinet_1_bottom_region``."""
    name, _, kind = region.rpartition("_")
    cabinet, _, level = name.rpartition("_")
    if kind != "region" or not cabinet.startswith(CABINETS) or level not in LEVELS:  # not ``..._top_side``
        raise ValueError(f"no drawer-{what} skill for {region!r} (the drawers of {', '.join(CABINETS)} only)")
    return cabinet, LEVELS.index(level)


def drawer_handle(obs: dict[str, Any], cabinet: str, region: str) -> tuple[np.ndarray, np.ndarray]:
    """(opening direction (3,), world centre of the handle bar (3,)) of the drawer whose region site is `region`."""
    r_cab = obs[ROTATIONS_KEY][cabinet]
    return r_cab @ PULL_LOCAL, obs[POSITIONS_KEY][region] + r_cab @ HANDLE_OFFSET


def drawer_joint(obs: dict[str, Any], cabinet: str, level: int) -> float:
    """The drawer's slide joint: 0 closed, negative open."""
    return float(np.asarray(obs[JOINTS_KEY].get(cabinet, np.zeros(3)))[level])


# Where an object goes into an open drawer: the part of the drawer pulled out of the cabinet lies between the
# inside of its front wall and the handles of the closed drawers above (they stand 12.1 cm in front of the closed
# drawer's site, bar included); an object centred on the site would hang under those handles and rest on them.
FRONT_WALL = 0.081  # inside of the front wall, in front of the region site
HANDLE_FRONT = 0.121  # front of the handle bars, in front of a closed drawer's region site


def drawer_place_center(obs: dict[str, Any], region: str, radius: float) -> np.ndarray | None:
    """Where to centre an object of horizontal `radius` (m) put into the drawer `region`: the middle of the span
    between the handles above and the front wall, as far as it goes (world (3,), at the site's height); None when
    `region` is not a cabinet drawer."""
    try:
        cabinet, level = parse_drawer(region, "placing")
    except ValueError:
        return None
    pull, _ = drawer_handle(obs, cabinet, region)
    site = np.asarray(obs[POSITIONS_KEY][region], dtype=np.float64)
    opened = -drawer_joint(obs, cabinet, level)  # metres pulled out
    clear_of_handles = HANDLE_FRONT - opened + radius  # nearest centre (along pull) clear of the handles above
    inside_front = FRONT_WALL - radius  # farthest centre with the object inside the front wall
    return site + pull * max(0.0, (clear_of_handles + inside_front) / 2)
