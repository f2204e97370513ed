"""Asynchronous execution of action chunks (inference in parallel with control).

- `blend`: stitching curves and real-time-chunking weights (pure numpy);
- `scheduler`: `AsyncConfig`, `ChunkScheduler` (the action buffer, committed prefix, triggering);
- `runner`: `AsyncRunner`, real time with an inference thread (torch-free);
- `sim_async`: `SimAsyncPolicy`, simulated latency for `hy-vla eval --async`;
"""
