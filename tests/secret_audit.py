"""Suite-wide secret audit (a pytest plugin loaded by ``conftest.py``).

For the whole run, debug logging is on (``MUXI_DEBUG=1``) and every record of every logger is
captured, formatted with its traceback; every ``MuxiError`` created is captured too (message and
repr). Every secret the suite uses is collected as it is used: HMAC secrets and formation keys from
each ``ServerConfig`` / ``FormationConfig`` built, webhook secrets from each ``sign`` /
``verify_signature`` call, and every ``Authorization`` signature the library produces. At the end of
the session, any secret found in the captured text fails the run.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from typing import Any

import pytest
from hypothesis import currently_in_test_context

import muxi_proto.auth
import muxi_proto.config
import muxi_proto.requests
import muxi_proto.webhook
from muxi_proto.errors import MuxiError

MIN_SECRET = 8  # shorter test values ("s", "key") would match ordinary words
# Values tests pass on purpose where a secret would be out of place (asserting it is *not* echoed).
_secrets: set[str] = set()
_signatures: set[str] = set()  # every HMAC signature produced (many: matched by shape, not one by one)
_texts: list[str] = []
_BASE64_SIGNATURE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=")


def remember(value: object) -> None:
    """Add a secret to look for (not values hypothesis made up: they collide with ordinary words)."""
    if currently_in_test_context():
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value.strip()) >= MIN_SECRET:
        _secrets.add(value.strip())


def leaks(texts: list[str], secrets: set[str], signatures: frozenset[str] | set[str] = frozenset()
          ) -> list[tuple[str, str]]:
    """(secret, excerpt) for every secret or HMAC signature found in ``texts``."""
    found = []
    for text in texts:
        for match in _BASE64_SIGNATURE.finditer(text):
            if match.group() in signatures:
                found.append(("signature", text[max(0, match.start() - 60): match.end()]))
        for secret in secrets:
            at = text.find(secret)
            if at >= 0:
                found.append((secret[:4] + "…", text[max(0, at - 60): at + 20]))
    return found


class _Capture(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        _texts.append(text)


def _wrap(owner: Any, name: str, collect: Any) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        collect(args, kwargs)
        result = original(*args, **kwargs)
        if name == "sign_request" and isinstance(result, str):
            _signatures.add(result.rsplit("signature=", 1)[-1])
        return result

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def pytest_configure(config: pytest.Config) -> None:
    os.environ["MUXI_DEBUG"] = "1"
    root = logging.getLogger()
    root.addHandler(_Capture(logging.DEBUG))
    logging.getLogger("muxi").setLevel(logging.DEBUG)

    for cls in (muxi_proto.config.ServerConfig, muxi_proto.config.FormationConfig):
        post_init = cls.__post_init__

        def audited(self: Any, _post_init: Any = post_init) -> None:
            _post_init(self)
            for field in ("secret_key", "admin_key", "client_key"):
                remember(getattr(self, field, None))

        cls.__post_init__ = audited  # type: ignore[method-assign]

    for module in (muxi_proto.auth, muxi_proto.requests):  # requests imported the name directly
        _wrap(module, "sign_request", lambda a, k: remember(k.get("secret_key")))
    _wrap(muxi_proto.webhook, "sign", lambda a, k: remember(a[1] if len(a) > 1 else k.get("secret")))
    _wrap(muxi_proto.webhook, "verify_signature",
          lambda a, k: remember(a[2] if len(a) > 2 else k.get("secret")))

    init = MuxiError.__init__

    def recording_init(self: MuxiError, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _texts.append(f"{self} {self!r}")

    MuxiError.__init__ = recording_init  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    found = leaks(_texts, _secrets, _signatures)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (f"secret audit: {len(_texts)} log records and errors searched for {len(_secrets)} secrets, "
               f"and {len(_signatures)} signatures, {len(found)} leaks")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(summary)
        for secret, excerpt in found[:20]:
            reporter.write_line(f"  LEAK {secret}: ...{excerpt!r}...")
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
