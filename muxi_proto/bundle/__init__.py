"""Deployment bundles: pack a formation directory, validate a bundle, prepare an upload.

The MUXI server (docs/protocol.md §4) takes a gzipped tar whose entries all sit under one top-level
folder named after the formation, holding ``formation.afs`` (or ``formation.yaml`` /
``formation.yml``). It unpacks that folder, requires the formation file's top-level ``id`` to equal
the ``X-Formation-ID`` header and its top-level ``version`` (``1.0.0`` when absent) to equal
``X-Formation-Version``, and must receive the whole upload within 15 s.

- :func:`pack_directory` builds such a bundle, byte-for-byte reproducible, so an unchanged directory
  re-deploys as identical bytes (the server answers an identical update with 409 "no change").
- :func:`read_bundle` validates a bundle the way the server unpacks it, with a streaming gzip and tar
  reader that stops at its size and member bounds (decompression bombs cost at most the bound).
- :func:`load_bundle` turns what a caller hands ``deploy_formation`` into the bytes and headers to
  send, failing before the upload wherever the server would fail after it.
- :func:`formation_version` reads the top-level ``version`` of a formation file without a YAML
  library (a careful line scanner for exactly that).

Pure Python: reading the formation directory is the only I/O, and there is no network.

Modules: ``rules`` (file names, bounds, exclusions), ``formation_file`` (the scanner),
``reader`` (gzip and tar), ``packer`` and ``upload``.
"""

from __future__ import annotations

from ..errors import BundleError
from .formation_file import formation_version, top_level_value
from .packer import pack_directory
from .reader import BundleInfo, read_bundle
from .rules import (
    DEFAULT_FORMATION_VERSION,
    DEFAULT_MAX_BUNDLE_SIZE,
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_UNPACKED_SIZE,
    EXCLUDED_NAMES,
    EXCLUDED_PATTERNS,
    FORMATION_FILES,
    MAX_FORMATION_FILE_SIZE,
    is_excluded,
)
from .upload import BundleSource, PreparedBundle, load_bundle

__all__ = [
    "DEFAULT_FORMATION_VERSION",
    "DEFAULT_MAX_BUNDLE_SIZE",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_UNPACKED_SIZE",
    "EXCLUDED_NAMES",
    "EXCLUDED_PATTERNS",
    "FORMATION_FILES",
    "MAX_FORMATION_FILE_SIZE",
    "BundleError",
    "BundleInfo",
    "BundleSource",
    "PreparedBundle",
    "formation_version",
    "is_excluded",
    "load_bundle",
    "pack_directory",
    "read_bundle",
    "top_level_value",
]
