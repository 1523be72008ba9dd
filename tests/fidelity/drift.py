"""Differences between two recordings of the runtime (the drift a new runtime release brings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["drift"]


def _walk(old: Any, new: Any, where: str, out: list[str]) -> None:
    if type(old) is not type(new):
        out.append(f"{where}: {json.dumps(old)[:120]} -> {json.dumps(new)[:120]}")
    elif isinstance(old, dict):
        for key in sorted(set(old) | set(new)):
            if key not in new:
                out.append(f"{where}.{key}: no longer sent (was {json.dumps(old[key])[:80]})")
            elif key not in old:
                out.append(f"{where}.{key}: new ({json.dumps(new[key])[:80]})")
            else:
                _walk(old[key], new[key], f"{where}.{key}", out)
    elif isinstance(old, list):
        if len(old) != len(new):
            out.append(f"{where}: {len(old)} items -> {len(new)}")
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            _walk(a, b, f"{where}[{index}]", out)
    elif old != new:
        out.append(f"{where}: {json.dumps(old)[:120]} -> {json.dumps(new)[:120]}")


def drift(recorded: Path, fresh: Path) -> list[str]:
    """Every difference between the fixtures under ``recorded`` and a new recording under ``fresh``."""
    out: list[str] = []
    old_files = {p.relative_to(recorded) for p in recorded.glob("*/*.json")}
    new_files = {p.relative_to(fresh) for p in fresh.glob("*/*.json")}
    out.extend(f"{name}: no longer recorded" for name in sorted(old_files - new_files))
    out.extend(f"{name}: new recording" for name in sorted(new_files - old_files))
    for name in sorted(old_files & new_files):
        old = json.loads((recorded / name).read_text(encoding="utf-8"))
        new = json.loads((fresh / name).read_text(encoding="utf-8"))
        steps_old = {e["step"]: e for e in old["exchanges"]}
        steps_new = {e["step"]: e for e in new["exchanges"]}
        for step in sorted(set(steps_old) | set(steps_new)):
            if step not in steps_new or step not in steps_old:
                out.append(f"{name} {step}: {'no longer played' if step not in steps_new else 'new step'}")
                continue
            lines: list[str] = []
            _walk(steps_old[step], steps_new[step], "", lines)
            out.extend(f"{name} {step}{line}" for line in lines)
    return out
