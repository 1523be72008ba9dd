"""What a bundle holds and the bounds on it: formation file names, limits, exclusions."""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..errors import ConfigurationError

#: Formation file names, in the order they are looked for (``.afs`` wins, as in the MUXI CLI).
FORMATION_FILES = ("formation.afs", "formation.yaml", "formation.yml")
#: What the server assumes when the formation file (or the header) gives no version.
DEFAULT_FORMATION_VERSION = "1.0.0"
#: Bound on a bundle's compressed size (what goes on the wire).
DEFAULT_MAX_BUNDLE_SIZE = 100 * 1024 * 1024
#: Bound on a bundle's decompressed tar stream when reading one.
DEFAULT_MAX_UNPACKED_SIZE = 1024 * 1024 * 1024
#: Bound on the number of members (files and directories) when reading a bundle.
DEFAULT_MAX_FILES = 10_000
#: A formation file is configuration; anything larger is refused rather than held in memory.
MAX_FORMATION_FILE_SIZE = 1024 * 1024

#: Names left out of a packed bundle wherever they appear (any depth, files or directories).
#: ``secrets`` is the plain-text secrets template; ``secrets.enc`` is kept, the runtime needs it.
EXCLUDED_NAMES = frozenset({".git", ".muxi", "secrets", "node_modules", "__pycache__"})
#: Glob patterns (``fnmatch``, case-sensitive) matched against each name, at any depth.
EXCLUDED_PATTERNS = (".env*", "*.pyc")


def is_excluded(name: str) -> bool:
    """True if a file or directory called ``name`` is left out of bundles (see ``EXCLUDED_*``)."""
    return name in EXCLUDED_NAMES or any(fnmatchcase(name, pattern) for pattern in EXCLUDED_PATTERNS)


def check_limit(name: str, value: object) -> int:
    """``value`` when it is a positive int (a size or count bound), else ``ConfigurationError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError("INVALID_CONFIG", f"{name} must be an int > 0, got {value!r}")
    return value
