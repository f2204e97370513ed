"""LeRobot v3 dataset metadata: paths, meta/info.json, meta/tasks.parquet, the parquet schemas.

On-disk layout of a LeRobot dataset with codebase_version "v3.0" (what LeRobot 0.4.4 writes):

    meta/info.json                          fps, features {key: {dtype, shape, names, [info]}}, totals,
                                            chunks_size, data/video_files_size_in_mb, data_path, video_path
    meta/stats.json                         {feature: {min, max, mean, std, count, q01, q10, q50, q90, q99}}
    meta/tasks.parquet                      column task_index, pandas index = the task string
    meta/episodes/chunk-000/file-000.parquet  one row per episode (see `stats.py` / `writer.py`)
    data/chunk-XXX/file-YYY.parquet         one row per frame, several episodes per file
    videos/<key>/chunk-XXX/file-YYY.mp4     several episodes back to back per file

Every frame row also carries timestamp (float32), frame_index, episode_index, index and
task_index (int64). Low-dim features of shape (D,) are arrow fixed_size_list<dtype>[D]; shape
(1,) is a plain scalar column. We add one key LeRobot ignores to info.json: "embodiment", our
embodiment registry name.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hy_vla.utils.atomic import atomic_write_json

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
DEFAULT_CHUNK_SIZE = 1000  # files per chunk directory
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200
EMBODIMENT_KEY = "embodiment"  # our extra info.json key

# Columns LeRobot adds to every frame.
INDEX_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
NUMERIC_DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
VISUAL_DTYPES = ("video", "image")
REQUIRED_INFO_KEYS = ("codebase_version", "fps", "features", "total_episodes", "total_frames", "data_path")


def validate_features(features: dict[str, dict[str, Any]], where: str = "features") -> dict[str, dict[str, Any]]:
    """Check a features dict and return a normalized copy (shapes as int lists, names default None)."""
    if not isinstance(features, dict) or not features:
        raise ValueError(f"{where}: expected a non-empty dict of feature specs")
    out: dict[str, dict[str, Any]] = {}
    for key, ft in features.items():
        if "/" in key:
            raise ValueError(f"{where}[{key!r}]: feature names may not contain '/'")
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise ValueError(f"{where}[{key!r}]: expected a dict with 'dtype' and 'shape', got {ft!r}")
        dtype = ft["dtype"]
        if dtype not in NUMERIC_DTYPES + VISUAL_DTYPES + ("string",):
            raise ValueError(f"{where}[{key!r}].dtype: unsupported {dtype!r}")
        shape = [int(s) for s in ft["shape"]]
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"{where}[{key!r}].shape: expected positive sizes, got {ft['shape']!r}")
        if dtype in VISUAL_DTYPES and (len(shape) != 3 or shape[2] != 3):
            raise ValueError(f"{where}[{key!r}].shape: a {dtype} feature is (height, width, 3), got {shape}")
        names = ft.get("names")
        if dtype not in VISUAL_DTYPES and isinstance(names, list) and len(names) != shape[0]:
            raise ValueError(f"{where}[{key!r}].names: {len(names)} names for shape {shape}")
        out[key] = {**ft, "dtype": dtype, "shape": shape, "names": names}
    return out


def readable_features(
    features: dict[str, Any], where: str = "features"
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """A dataset's features split into (what this reader can load, {skipped key: why}).

    Newer LeRobot versions add features this stack cannot train on (other dtypes, multi-dimensional arrays, depth
    videos); a dataset with them is read without them instead of refused. The index columns must be readable.
    """
    if not isinstance(features, dict) or not features:
        raise ValueError(f"{where}: expected a non-empty dict of feature specs")
    usable: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for key, ft in features.items():
        try:
            spec = validate_features({key: ft}, where)[key]
            if spec["dtype"] not in VISUAL_DTYPES + ("string",) and len(spec["shape"]) > 1:
                raise ValueError(f"{where}[{key!r}].shape: {spec['shape']} (only 1-D low-dim features are read)")
        except ValueError as e:
            if key in INDEX_FEATURES:
                raise
            skipped[key] = str(e)
            continue
        usable[key] = spec
    return usable, skipped


def arrow_type(ft: dict[str, Any]) -> pa.DataType:
    """Arrow type of a non-video feature column, as HF `datasets` writes it for LeRobot."""
    if ft["dtype"] == "image":
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    if ft["dtype"] == "string":
        return pa.string()
    scalar = pa.from_numpy_dtype(ft["dtype"]) if ft["dtype"] != "bool" else pa.bool_()
    shape = ft["shape"]
    if shape == [1]:
        return scalar
    if len(shape) == 1:
        return pa.list_(scalar, shape[0])
    raise ValueError(f"feature shape {shape}: only 1-D low-dim features are supported (LeRobot Array2D+ is not)")


def _hf_feature(ft: dict[str, Any]) -> dict[str, Any]:
    if ft["dtype"] == "image":
        return {"_type": "Image"}
    if ft["dtype"] == "string" or ft["shape"] == [1]:
        return {"dtype": ft["dtype"], "_type": "Value"}
    return {"feature": {"dtype": ft["dtype"], "_type": "Value"}, "length": ft["shape"][0], "_type": "List"}


def data_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    """Schema of data/*.parquet: non-video features in order, then the index columns.

    Carries the `huggingface` schema metadata HF `datasets` writes, so LeRobot's loader sees the
    types it expects.
    """
    cols = {k: ft for k, ft in features.items() if ft["dtype"] != "video"}
    hf = {"info": {"features": {k: _hf_feature(ft) for k, ft in cols.items()}}}
    fields = [pa.field(k, arrow_type(ft)) for k, ft in cols.items()]
    return pa.schema(fields, metadata={b"huggingface": json.dumps(hf).encode()})


def new_info(
    fps: int,
    features: dict[str, dict[str, Any]],
    robot_type: str | None,
    embodiment: str | None,
    chunks_size: int = DEFAULT_CHUNK_SIZE,
    data_files_size_in_mb: int = DEFAULT_DATA_FILE_SIZE_IN_MB,
    video_files_size_in_mb: int = DEFAULT_VIDEO_FILE_SIZE_IN_MB,
) -> dict[str, Any]:
    """A fresh info.json dict; `features` must already include INDEX_FEATURES."""
    has_video = any(ft["dtype"] == "video" for ft in features.values())
    info: dict[str, Any] = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": 0,
        "total_frames": 0,
        "total_tasks": 0,
        "chunks_size": chunks_size,
        "data_files_size_in_mb": data_files_size_in_mb,
        "video_files_size_in_mb": video_files_size_in_mb,
        "fps": fps,
        "splits": {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None,
        "features": features,
    }
    if embodiment is not None:
        info[EMBODIMENT_KEY] = embodiment
    return info


def load_info(root: Path) -> dict[str, Any]:
    """Read and check meta/info.json; errors name the file and the field."""
    path = root / INFO_PATH
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; is {root} a LeRobot v3 dataset?")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    for key in REQUIRED_INFO_KEYS:
        if key not in info:
            raise ValueError(f"{path}: missing field {key!r}")
    version = str(info["codebase_version"])
    if not version.startswith("v3."):
        raise ValueError(f"{path}: codebase_version {version!r} is not supported (expected v3.x)")
    info["features"], skipped = readable_features(info["features"], where=f"{path}: features")
    if skipped:  # features of newer LeRobot versions this stack cannot train on: read the rest
        warnings.warn(f"{path}: skipping features this reader cannot load: {skipped}", stacklevel=2)
        info["skipped_features"] = skipped
    if any(ft["dtype"] == "video" for ft in info["features"].values()) and not info.get("video_path"):
        raise ValueError(f"{path}: video features but no 'video_path' template")
    for key, fields in (("data_path", {"chunk_index", "file_index"}), ("video_path", VIDEO_TEMPLATE_FIELDS)):
        if info.get(key) is not None:
            check_path_template(info[key], fields, f"{path}: {key}")
    return info


VIDEO_TEMPLATE_FIELDS = frozenset({"video_key", "chunk_index", "file_index"})


def check_path_template(template: Any, fields: set[str] | frozenset[str], where: str) -> None:
    """A v3 path template may name only its documented fields (`{chunk_index:03d}`...), never an attribute, an
    index or a conversion, and must stay a relative path inside the dataset (the template is untrusted input)."""
    if not isinstance(template, str) or not template:
        raise ValueError(f"{where}: expected a path template string, got {template!r:.80}")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"{where}: not a valid template ({e}): {template!r}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in fields or conversion is not None or (spec and not re.fullmatch(r"0?\d*d?", spec)):
            raise ValueError(f"{where}: template field {name!r} (spec {spec!r}, conversion {conversion!r}) is not one "
                             f"of {sorted(fields)} as a plain integer/string: {template!r}")  # fmt: skip
    literal = "".join(text for text, *_ in parsed)
    if template.startswith("/") or ".." in Path(literal).parts or ".." in template.split("/"):
        raise ValueError(f"{where}: the template must stay inside the dataset: {template!r}")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a temporary file and a rename (LeRobot's indent of 4)."""
    atomic_write_json(path, data, indent=4)


def write_tasks(path: Path, tasks: list[str]) -> None:
    """meta/tasks.parquet as pandas writes it: a task_index column indexed by the task string."""
    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": None}
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema(
        [pa.field("task_index", pa.int64()), pa.field("__index_level_0__", pa.string())],
        metadata={b"pandas": json.dumps(pandas_meta).encode()},
    )
    table = pa.table({"task_index": list(range(len(tasks))), "__index_level_0__": tasks}, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """pq.read_table with an error that names the file when it is missing or damaged."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as e:
        raise ValueError(f"{path}: unreadable parquet (truncated or corrupt?): {e}") from None


def read_tasks(root: Path) -> list[str]:
    """Task strings ordered by task_index."""
    path = root / TASKS_PATH
    table = read_parquet(path)
    names = [n for n in table.column_names if n != "task_index"]
    if "task_index" not in table.column_names or not names:
        raise ValueError(f"{path}: expected columns task_index and the task string, got {table.column_names}")
    text_col = "task" if "task" in names else names[0]
    rows = sorted(zip(table.column("task_index").to_pylist(), table.column(text_col).to_pylist(), strict=True))
    if [i for i, _ in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: task_index values are not 0..{len(rows) - 1}")
    return [t for _, t in rows]
