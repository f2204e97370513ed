"""The unified state/action slot space, and leading-channel padding.

Unified space (Being-H0.5 style): one fixed global layout, shared by every
robot, in which each semantic kind of quantity owns fixed slots. A robot's
state or action vector is scattered into the slots of its sub-vectors; all
other slots are zero and masked out. The same physical quantity (e.g. the
right gripper) therefore always lands on the same channels, whatever robot
produced it. A sub-vector narrower than its block uses the block's first
slots (a 6-joint arm fills joint_pos slots 0-5 of its arm's 7).

Single-arm robots use the right-arm blocks (``arm="single"`` is an alias of
``"right"``), so their skills share channels with the dominant arm of
bimanual robots.

In the action part, ``eef_pos``/``eef_rot6d`` hold the target pose: absolute,
or relative to the current pose for delta-chunk representations.
``eef_delta_pos``/``eef_delta_rot`` (axis-angle) hold per-step relative
commands as sent to the controller (Meta-World, LIBERO).

Layout (default width 200; slots past the table are reserved, always masked):

    slots    arm    kind            width
    0-2      right  eef_pos         3
    3-8      right  eef_rot6d       6
    9-12     right  eef_quat        4
    13-15    right  eef_axis_angle  3
    16-18    right  eef_euler       3
    19-21    right  eef_delta_pos   3
    22-24    right  eef_delta_rot   3
    25-26    right  gripper         2
    27-33    right  joint_pos       7
    34-36    left   eef_pos         3
    37-42    left   eef_rot6d       6
    43-46    left   eef_quat        4
    47-49    left   eef_axis_angle  3
    50-52    left   eef_euler       3
    53-55    left   eef_delta_pos   3
    56-58    left   eef_delta_rot   3
    59-60    left   gripper         2
    61-67    left   joint_pos       7
    68-69    -      planar_pos      2
    70-72    -      base_vel        3
    73-199   reserved

Leading-channel alternative (Qwen-VLA style): the robot's vector occupies the
first d channels of a fixed-width tensor, the rest zero and masked. Both layouts are applied by the model
(`hy_vla.models.slot_layout`). New kinds are appended to the tables below,
never inserted, so existing checkpoints keep their slot meaning.
"""

from __future__ import annotations

UNIFIED_WIDTH = 200

ARM_KINDS: dict[str, int] = {
    "eef_pos": 3,
    "eef_rot6d": 6,
    "eef_quat": 4,  # wxyz, see hy_vla.actions.rotations
    "eef_axis_angle": 3,
    "eef_euler": 3,  # extrinsic xyz roll-pitch-yaw
    "eef_delta_pos": 3,
    "eef_delta_rot": 3,  # axis-angle
    "gripper": 2,  # opening, effort or finger positions
    "joint_pos": 7,
}
"""Kinds owned per arm, with their block widths (the widest sub-vector allowed)."""

GLOBAL_KINDS: dict[str, int] = {
    "planar_pos": 2,  # x, y of a planar agent (PushT)
    "base_vel": 3,  # mobile base vx, vy, yaw rate
}
"""Kinds owned once per robot (no arm)."""

SLOT_ARMS = ("right", "left")
ARM_NAMES = ("right", "left", "single")


def _build_table() -> dict[tuple[str | None, str], tuple[int, int]]:
    table: dict[tuple[str | None, str], tuple[int, int]] = {}
    start = 0
    for arm in SLOT_ARMS:
        for kind, width in ARM_KINDS.items():
            table[(arm, kind)] = (start, width)
            start += width
    for kind, width in GLOBAL_KINDS.items():
        table[(None, kind)] = (start, width)
        start += width
    return table


SLOT_TABLE = _build_table()
"""(arm or None, kind) -> (first slot, block width)."""
LAYOUT_END = max(start + width for start, width in SLOT_TABLE.values())


def slot_block(kind: str, arm: str | None) -> tuple[int, int]:
    """First slot and width of the block owned by `kind` of `arm` (None for whole-robot kinds)."""
    if kind in ARM_KINDS:
        if arm not in ARM_NAMES:
            raise ValueError(f"slot kind {kind!r} belongs to an arm: expected arm in {ARM_NAMES}, got {arm!r}")
        return SLOT_TABLE[("right" if arm == "single" else arm, kind)]
    if kind in GLOBAL_KINDS:
        if arm is not None:
            raise ValueError(f"slot kind {kind!r} belongs to the whole robot: expected arm=None, got {arm!r}")
        return SLOT_TABLE[(None, kind)]
    raise ValueError(f"slot kind: expected one of {(*ARM_KINDS, *GLOBAL_KINDS)}, got {kind!r}")


def format_layout_table() -> str:
    """The layout table as printed in this module's docstring (kept in sync by a test)."""
    lines = [f"{'slots':<8} {'arm':<6} {'kind':<15} width"]
    for (arm, kind), (start, width) in SLOT_TABLE.items():
        lines.append(f"{f'{start}-{start + width - 1}':<8} {arm or '-':<6} {kind:<15} {width}")
    lines.append(f"{f'{LAYOUT_END}-{UNIFIED_WIDTH - 1}':<8} reserved")
    return "\n".join(lines)
