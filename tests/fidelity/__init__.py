"""The runtime-fidelity suite: scenarios sent as raw HTTP to the real runtime and to the local server.

- :mod:`.scenarios`: what is sent (steps with keys, users, bodies, streams, captured ids);
- :mod:`.wire`: a stdlib HTTP runner that plays a scenario against one target and records answers;
- :mod:`.normalize`: volatile values (ids, timestamps, ports, keys) made deterministic;
- :mod:`.compare`: status, shape (key paths and types), error codes and messages, SSE sequences.

``make record-runtime`` stores the real runtime's answers under ``tests/fixtures/runtime/``;
``tests/test_local_server_fidelity.py`` replays the same scenarios against the local server and
compares; ``make test-runtime`` records again and fails on drift.
"""
