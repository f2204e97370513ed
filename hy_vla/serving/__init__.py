"""Policy serving over websockets in the openpi wire protocol.

- `wire`: msgpack + numpy encoding (torch-free);
- `spec`: the metadata frame and request validation (torch-free);
- `server`: `PolicyServer` / `checkpoint_server` (`hy-vla serve`);
- `client`: `RemotePolicy`, a torch-free PolicyLike for a remote server.
"""
