import math

import numpy as np
import pytest
import torch

from hy_vla.actions import rotations as rot

HALF = math.sqrt(0.5)
# 90 degrees about x, y, z: (axis-angle, wxyz quaternion, matrix)
QUARTER_TURNS = [
    ([math.pi / 2, 0, 0], [HALF, HALF, 0, 0], [[1, 0, 0], [0, 0, -1], [0, 1, 0]]),
    ([0, math.pi / 2, 0], [HALF, 0, HALF, 0], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]),
    ([0, 0, math.pi / 2], [HALF, 0, 0, HALF], [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),
]
EULER_CONVENTIONS = ["xyz", "xzy", "yxz", "yzx", "zxy", "zyx", "XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


def random_matrices(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return rot.quat_to_matrix(q)


def assert_rotation(m: torch.Tensor) -> None:
    eye = torch.eye(3, dtype=m.dtype).expand(m.shape)
    torch.testing.assert_close(m @ m.transpose(-1, -2), eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.linalg.det(m), torch.ones(m.shape[:-2], dtype=m.dtype), atol=1e-9, rtol=0)


@pytest.mark.parametrize("aa, quat, mat", QUARTER_TURNS)
def test_quarter_turns_known_values(aa, quat, mat):
    aa, quat, mat = (torch.tensor(x, dtype=torch.float64) for x in (aa, quat, mat))
    torch.testing.assert_close(rot.axis_angle_to_matrix(aa), mat)
    torch.testing.assert_close(rot.quat_to_matrix(quat), mat)
    torch.testing.assert_close(rot.matrix_to_quat(mat), quat)
    torch.testing.assert_close(rot.matrix_to_axis_angle(mat), aa)
    torch.testing.assert_close(rot.matrix_to_rot6d(mat), torch.cat([mat[:, 0], mat[:, 1]]))
    # extrinsic xyz: each single-axis quarter turn is that angle alone
    torch.testing.assert_close(rot.matrix_to_euler(mat, "xyz"), aa)


def test_identity_everywhere():
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(rot.matrix_to_quat(eye), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(rot.matrix_to_axis_angle(eye), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(rot.matrix_to_euler(eye), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(rot.matrix_to_rot6d(eye), torch.tensor([1.0, 0, 0, 0, 1, 0], dtype=torch.float64))
    torch.testing.assert_close(rot.axis_angle_to_matrix(torch.zeros(3, dtype=torch.float64)), eye)


def test_euler_xyz_is_rz_ry_rx():
    roll, pitch, yaw = 0.3, -0.7, 1.9
    rx = rot.axis_angle_to_matrix(torch.tensor([roll, 0.0, 0.0], dtype=torch.float64))
    ry = rot.axis_angle_to_matrix(torch.tensor([0.0, pitch, 0.0], dtype=torch.float64))
    rz = rot.axis_angle_to_matrix(torch.tensor([0.0, 0.0, yaw], dtype=torch.float64))
    angles = torch.tensor([roll, pitch, yaw], dtype=torch.float64)
    torch.testing.assert_close(rot.euler_to_matrix(angles, "xyz"), rz @ ry @ rx)
    # intrinsic ZYX (yaw, pitch, roll) is the same physical rotation
    torch.testing.assert_close(rot.euler_to_matrix(angles.flip(-1), "ZYX"), rz @ ry @ rx)


@pytest.mark.parametrize("fmt", ["quat", "axis_angle", "euler", "rot6d"])
def test_matrix_round_trip_random_batch(fmt):
    m = random_matrices(512).reshape(8, 64, 3, 3)
    x = rot.from_matrix(m, fmt)
    assert x.shape == (8, 64, rot.ROTATION_DIMS[fmt])
    back = rot.to_matrix(x, fmt)
    assert_rotation(back)
    torch.testing.assert_close(back, m, atol=1e-10, rtol=0)


@pytest.mark.parametrize("convention", EULER_CONVENTIONS)
def test_euler_round_trip_every_convention(convention):
    g = torch.Generator().manual_seed(1)
    angles = (torch.rand(256, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor(
        [math.pi, math.pi / 2 - 1e-3, math.pi], dtype=torch.float64
    )
    m = rot.euler_to_matrix(angles, convention)
    torch.testing.assert_close(rot.matrix_to_euler(m, convention), angles, atol=1e-9, rtol=0)


@pytest.mark.parametrize("convention", ["xyz", "ZYX", "yzx"])
def test_euler_gimbal_lock_still_reconstructs(convention):
    angles = torch.tensor([[0.4, math.pi / 2, -1.1], [0.4, -math.pi / 2, 0.9]], dtype=torch.float64)
    m = rot.euler_to_matrix(angles, convention)
    out = rot.matrix_to_euler(m, convention)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(rot.euler_to_matrix(out, convention), m, atol=1e-7, rtol=0)


def test_euler_matches_scipy():
    transform = pytest.importorskip("scipy.spatial.transform")
    m = random_matrices(64, seed=3)
    for convention in ("xyz", "ZYX", "zxy"):
        ref = transform.Rotation.from_matrix(m.numpy()).as_euler(convention)
        np.testing.assert_allclose(rot.matrix_to_euler(m, convention).numpy(), ref, atol=1e-9)


def test_axis_angle_near_pi_and_near_zero():
    axis = torch.nn.functional.normalize(torch.tensor([[0.3, -0.5, 0.8]], dtype=torch.float64), dim=-1)
    for angle in (math.pi, math.pi - 1e-7, math.pi - 1e-4, 1e-9, 1e-5, 0.0):
        v = axis * angle
        m = rot.axis_angle_to_matrix(v)
        assert_rotation(m)
        back = rot.matrix_to_axis_angle(m)
        assert torch.isfinite(back).all()
        assert back.norm() <= math.pi + 1e-12
        # at exactly pi, v and -v are the same rotation
        err = (
            torch.minimum((back - v).abs().max(), (back + v).abs().max())
            if angle == math.pi
            else (back - v).abs().max()
        )
        assert err < 1e-8, (angle, back, v)


def test_axis_angle_small_angle_gradient_is_finite():
    v = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    rot.axis_angle_to_matrix(v).sum().backward()
    assert torch.isfinite(v.grad).all()


def test_quaternion_algebra():
    g = torch.Generator().manual_seed(2)
    a = rot.quat_normalize(torch.randn(32, 4, generator=g, dtype=torch.float64))
    b = rot.quat_normalize(torch.randn(32, 4, generator=g, dtype=torch.float64))
    # the product composes rotations: R(a * b) = R(a) R(b)
    torch.testing.assert_close(
        rot.quat_to_matrix(rot.quat_multiply(a, b)), rot.quat_to_matrix(a) @ rot.quat_to_matrix(b)
    )
    ident = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64).expand(32, 4)
    torch.testing.assert_close(rot.quat_multiply(a, rot.quat_inverse(a)), ident)
    scaled = 3.0 * a
    torch.testing.assert_close(rot.quat_multiply(scaled, rot.quat_inverse(scaled)), ident)
    torch.testing.assert_close(rot.quat_normalize(scaled), a)
    # matrix -> quat is canonical: w >= 0, and q, -q give the same matrix
    q = rot.matrix_to_quat(rot.quat_to_matrix(-a))
    assert (q[:, 0] >= 0).all()
    torch.testing.assert_close(q, torch.where(a[:, :1] < 0, -a, a))


def test_xyzw_wxyz_helpers():
    q = torch.tensor([1.0, 2.0, 3.0, 4.0])  # w, x, y, z
    torch.testing.assert_close(rot.wxyz_to_xyzw(q), torch.tensor([2.0, 3.0, 4.0, 1.0]))
    torch.testing.assert_close(rot.xyzw_to_wxyz(rot.wxyz_to_xyzw(q)), q)


def test_rot6d_gram_schmidt_repairs_noise():
    m = random_matrices(100, seed=4)
    noisy = rot.matrix_to_rot6d(m) + 0.01 * torch.randn(100, 6, dtype=torch.float64)
    fixed = rot.rot6d_to_matrix(noisy)
    assert_rotation(fixed)
    # the first column only gets normalized: its direction is kept exactly
    a1 = noisy[:, :3] / noisy[:, :3].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(fixed[..., :, 0], a1)


def test_convert_rotation_any_to_any():
    m = random_matrices(16, seed=5)
    aa = rot.matrix_to_axis_angle(m)
    q = rot.convert_rotation(aa, "axis_angle", "quat")
    torch.testing.assert_close(q, rot.matrix_to_quat(m))
    torch.testing.assert_close(rot.convert_rotation(q, "quat", "euler"), rot.matrix_to_euler(m))
    torch.testing.assert_close(rot.convert_rotation(q, "quat", "matrix"), m)


def test_numpy_in_numpy_out():
    m = random_matrices(5, seed=6).numpy()
    q = rot.matrix_to_quat(m)
    assert isinstance(q, np.ndarray) and q.dtype == np.float64 and q.shape == (5, 4)
    q32 = rot.matrix_to_quat(m.astype(np.float32))
    assert q32.dtype == np.float32
    back = rot.convert_rotation(q, "quat", "matrix")
    assert isinstance(back, np.ndarray)
    np.testing.assert_allclose(back, m, atol=1e-12)
    assert isinstance(rot.euler_to_matrix(np.zeros(3, dtype=int)), np.ndarray)


def test_float32_batch_accuracy():
    m = random_matrices(256, seed=7).float()
    for fmt in ("quat", "axis_angle", "euler", "rot6d"):
        torch.testing.assert_close(rot.to_matrix(rot.from_matrix(m, fmt), fmt), m, atol=1e-4, rtol=0)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="quaternion"):
        rot.quat_to_matrix(torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        rot.matrix_to_quat(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="euler convention"):
        rot.euler_to_matrix(torch.zeros(3), "xYz")
    with pytest.raises(ValueError, match="euler convention"):
        rot.euler_to_matrix(torch.zeros(3), "zxz")  # proper Euler angles are not supported
    with pytest.raises(ValueError, match="rotation format"):
        rot.to_matrix(torch.zeros(3), "rodrigues")
