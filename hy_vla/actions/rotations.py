"""Rotation conversions, written once in torch on batched tensors.

Every function takes tensors of shape (..., n) (any number of leading batch
dimensions) and also accepts numpy arrays, returning numpy in that case.
The rotation matrix is the hub: each format converts to and from a matrix, and
`convert_rotation` goes between any two formats through it.

Conventions (one place, used everywhere in Hy-VLA):

- matrix (..., 3, 3): acts on column vectors, ``v_base = R @ v_body``; its
  columns are the body axes expressed in the base frame.
- quaternion (..., 4): scalar first, ``(w, x, y, z)``, as MuJoCo stores
  ``qpos``/``xquat``. Quaternions produced here are unit and canonical
  (``w >= 0``). ROS/scipy/Isaac order ``(x, y, z, w)`` converts with
  `xyzw_to_wxyz` / `wxyz_to_xyzw`. Products are Hamilton products.
- axis-angle (..., 3): rotation vector ``axis * angle``, angle in radians.
  Produced vectors have angle in [0, pi].
- euler (..., 3): Tait-Bryan angles, convention named by three distinct axis
  letters as in scipy: lowercase = extrinsic (about the fixed base axes, in
  the order written), uppercase = intrinsic (about the moving axes). The
  default ``"xyz"`` is extrinsic roll, pitch, yaw: ``R = Rz(yaw) Ry(pitch)
  Rx(roll)``, as most robot datasets store end-effector orientation.
  Produced middle angles lie in [-pi/2, pi/2]; at gimbal lock the first angle
  is set to 0.
- rot6d (..., 6): the first two COLUMNS of the matrix, column after column:
  ``(R00, R10, R20, R01, R11, R21)`` (Zhou et al. 2019, "On the continuity of
  rotation representations"). Back to a matrix by Gram-Schmidt, so any 6-vector
  with non-parallel halves maps to a valid rotation.
"""

from __future__ import annotations

import torch

from hy_vla.actions.arrays import numpy_compatible

ROTATION_DIMS: dict[str, int] = {"quat": 4, "rot6d": 6, "axis_angle": 3, "euler": 3}
"""Width of each vector rotation format (the matrix format is (..., 3, 3))."""
ROTATION_FORMATS: tuple[str, ...] = ("matrix", *ROTATION_DIMS)


def _check_last(x: torch.Tensor, n: int, what: str) -> None:
    if x.shape[-1:] != (n,):
        raise ValueError(f"{what}: expected shape (..., {n}), got {tuple(x.shape)}")


def _check_matrix(m: torch.Tensor) -> None:
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrix: expected shape (..., 3, 3), got {tuple(m.shape)}")


# --------------------------------------------------------------------------- quaternions


@numpy_compatible
def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    """Scalar-last (x, y, z, w) -> scalar-first (w, x, y, z)."""
    _check_last(q, 4, "quaternion")
    return torch.roll(q, 1, dims=-1)


@numpy_compatible
def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    """Scalar-first (w, x, y, z) -> scalar-last (x, y, z, w)."""
    _check_last(q, 4, "quaternion")
    return torch.roll(q, -1, dims=-1)


@numpy_compatible
def quat_normalize(q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Unit quaternion with the same direction, (..., 4)."""
    _check_last(q, 4, "quaternion")
    return q / q.norm(dim=-1, keepdim=True).clamp_min(eps)


@numpy_compatible
def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` (apply b first, then a), broadcast over (..., 4)."""
    _check_last(a, 4, "quaternion a")
    _check_last(b, 4, "quaternion b")
    aw, av = a[..., :1], a[..., 1:]
    bw, bv = b[..., :1], b[..., 1:]
    av, bv = torch.broadcast_tensors(av, bv)
    w = aw * bw - (av * bv).sum(-1, keepdim=True)
    v = aw * bv + bw * av + torch.linalg.cross(av, bv, dim=-1)
    return torch.cat([w, v], dim=-1)


@numpy_compatible
def quat_inverse(q: torch.Tensor) -> torch.Tensor:
    """Multiplicative inverse: conjugate over squared norm (works for non-unit q)."""
    _check_last(q, 4, "quaternion")
    conj = torch.cat([q[..., :1], -q[..., 1:]], dim=-1)
    return conj / (q * q).sum(-1, keepdim=True)


@numpy_compatible
def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz (normalized first) -> (..., 3, 3)."""
    _check_last(q, 4, "quaternion")
    w, x, y, z = quat_normalize(q).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


@numpy_compatible
def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit wxyz with w >= 0.

    Each row of the 4x4 table below equals ``4 * q_c * q`` for one component
    q_c (its diagonal entry is ``4 * q_c**2``). Picking the row with the largest
    diagonal divides by the largest component, which keeps the result accurate
    for every rotation, including half turns where w ~ 0.
    """
    _check_matrix(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    one = torch.ones_like(m00)
    table = torch.stack(
        [
            torch.stack([one + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], dim=-1),  # 4w * q
            torch.stack([m21 - m12, one + m00 - m11 - m22, m01 + m10, m02 + m20], dim=-1),  # 4x * q
            torch.stack([m02 - m20, m01 + m10, one - m00 + m11 - m22, m12 + m21], dim=-1),  # 4y * q
            torch.stack([m10 - m01, m02 + m20, m12 + m21, one - m00 - m11 + m22], dim=-1),  # 4z * q
        ],
        dim=-2,
    )  # (..., 4, 4)
    best = table.diagonal(dim1=-2, dim2=-1).argmax(dim=-1)  # (...,)
    q = torch.gather(table, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)  # (..., 4)
    q = quat_normalize(q)
    return torch.where(q[..., :1] < 0, -q, q)


# --------------------------------------------------------------------------- axis-angle


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix, ``skew(v) @ u == v x u``."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = ((zero, -z, y), (z, zero, -x), (-y, x, zero))
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


@numpy_compatible
def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 3, 3) by Rodrigues' formula.

    ``R = I + A K + B K^2`` with ``K = skew(v)``, ``A = sin(t)/t``,
    ``B = (1 - cos t)/t^2``; below t ~ 1e-3 the Taylor series replace the
    ratios, which are 0/0 at t = 0 and lose digits nearby.
    """
    _check_last(v, 3, "axis-angle")
    theta2 = (v * v).sum(-1)[..., None, None]  # (..., 1, 1)
    small = theta2 < 1e-6
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta * theta))
    k = _skew(v)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand(k.shape)
    return eye + a * k + b * (k @ k)


@numpy_compatible
def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) rotation vector with angle in [0, pi].

    Goes through the canonical quaternion (w >= 0): ``angle = 2 atan2(|xyz|, w)``
    is well conditioned everywhere, unlike ``acos((tr - 1) / 2)`` near 0 and pi.
    """
    q = matrix_to_quat(m)
    w, xyz = q[..., :1], q[..., 1:]
    n = xyz.norm(dim=-1, keepdim=True)
    small = n < 1e-6
    angle = 2 * torch.atan2(n, w)
    # angle / sin(angle / 2) -> 2 / w as the angle -> 0 (w ~ 1 there)
    scale = torch.where(small, 2 / w.clamp_min(1e-6), angle / torch.where(small, torch.ones_like(n), n))
    return xyz * scale


# --------------------------------------------------------------------------- euler


def parse_euler_convention(convention: str) -> tuple[tuple[int, int, int], bool]:
    """'xyz' -> ((0, 1, 2), extrinsic=True); 'ZYX' -> ((2, 1, 0), extrinsic=False)."""
    if (
        len(convention) != 3
        or not (convention.islower() or convention.isupper())
        or set(convention.lower()) != {"x", "y", "z"}
    ):
        raise ValueError(
            f"euler convention: expected three distinct axes, all lowercase (extrinsic) or all uppercase "
            f"(intrinsic), e.g. 'xyz' or 'ZYX'; got {convention!r}"
        )
    axes = tuple("xyz".index(c) for c in convention.lower())
    return axes, convention.islower()  # type: ignore[return-value]


def _axis_rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """(...,) angle -> (..., 3, 3) rotation about base axis 0, 1 or 2."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == 1:
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    else:
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


@numpy_compatible
def euler_to_matrix(angles: torch.Tensor, convention: str = "xyz") -> torch.Tensor:
    """(..., 3) angles (radians, in the order of `convention`) -> (..., 3, 3)."""
    _check_last(angles, 3, "euler angles")
    axes, extrinsic = parse_euler_convention(convention)
    r = [_axis_rotation(ax, a) for ax, a in zip(axes, angles.unbind(-1), strict=True)]
    # extrinsic: later rotations act in the base frame, so they multiply on the left
    return r[2] @ r[1] @ r[0] if extrinsic else r[0] @ r[1] @ r[2]


@numpy_compatible
def matrix_to_euler(m: torch.Tensor, convention: str = "xyz") -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) Tait-Bryan angles, middle angle in [-pi/2, pi/2]."""
    _check_matrix(m)
    axes, extrinsic = parse_euler_convention(convention)
    if not extrinsic:
        # intrinsic ABC with angles (a, b, c) is the same matrix as extrinsic CBA with angles (c, b, a)
        return matrix_to_euler(m, convention[::-1].lower()).flip(-1)
    i, j, k = axes
    s = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for cyclic orders (xyz, yzx, zxy)
    # with R = R_k(c) R_j(b) R_i(a): R[k, i] = -s sin b, R[k, j] = s cos b sin a, R[k, k] = cos b cos a
    cos_b = torch.hypot(m[..., k, j], m[..., k, k])
    b = torch.atan2(-s * m[..., k, i], cos_b)
    a = torch.atan2(s * m[..., k, j], m[..., k, k])
    c = torch.atan2(s * m[..., j, i], m[..., i, i])
    # gimbal lock: only a + c (or a - c) is defined; take a = 0. Column j of R is then R_k(c) e_j.
    locked = cos_b < torch.finfo(m.dtype).eps ** 0.5
    c_locked = torch.atan2(-s * m[..., i, j], m[..., j, j])
    a = torch.where(locked, torch.zeros_like(a), a)
    c = torch.where(locked, c_locked, c)
    return torch.stack([a, b, c], dim=-1)


# --------------------------------------------------------------------------- rot6d


@numpy_compatible
def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column, then second column."""
    _check_matrix(m)
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


@numpy_compatible
def rot6d_to_matrix(r: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns; the third is their cross product."""
    _check_last(r, 6, "rot6d")
    a1, a2 = r[..., :3], r[..., 3:]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(eps)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(eps)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


# --------------------------------------------------------------------------- any <-> any


@numpy_compatible
def to_matrix(x: torch.Tensor, fmt: str, euler_convention: str = "xyz") -> torch.Tensor:
    """Any format in `ROTATION_FORMATS` -> (..., 3, 3)."""
    if fmt == "matrix":
        _check_matrix(x)
        return x
    if fmt == "quat":
        return quat_to_matrix(x)
    if fmt == "axis_angle":
        return axis_angle_to_matrix(x)
    if fmt == "euler":
        return euler_to_matrix(x, euler_convention)
    if fmt == "rot6d":
        return rot6d_to_matrix(x)
    raise ValueError(f"rotation format: expected one of {ROTATION_FORMATS}, got {fmt!r}")


@numpy_compatible
def from_matrix(m: torch.Tensor, fmt: str, euler_convention: str = "xyz") -> torch.Tensor:
    """(..., 3, 3) -> any format in `ROTATION_FORMATS`."""
    if fmt == "matrix":
        _check_matrix(m)
        return m
    if fmt == "quat":
        return matrix_to_quat(m)
    if fmt == "axis_angle":
        return matrix_to_axis_angle(m)
    if fmt == "euler":
        return matrix_to_euler(m, euler_convention)
    if fmt == "rot6d":
        return matrix_to_rot6d(m)
    raise ValueError(f"rotation format: expected one of {ROTATION_FORMATS}, got {fmt!r}")


@numpy_compatible
def convert_rotation(x: torch.Tensor, src: str, dst: str, euler_convention: str = "xyz") -> torch.Tensor:
    """Convert between any two formats of `ROTATION_FORMATS`, through the rotation matrix."""
    return from_matrix(to_matrix(x, src, euler_convention), dst, euler_convention)
