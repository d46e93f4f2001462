"""The Keras version a file was written by, which decides version-dependent semantics."""

from __future__ import annotations

import re

from ..errors import ConversionError


def keras_major(version: str | None) -> int | None:
    """``"2.21.0" -> 2``, ``"3.15.1" -> 3``; ``None`` for an absent version string."""
    if version is None:
        return None
    match = re.match(r"\s*(\d+)\.", version)
    if not match:
        raise ConversionError(f"unrecognised keras_version {version!r}")
    major = int(match.group(1))
    if major not in (2, 3):
        raise ConversionError(f"Keras {version} files are not supported (Keras 2 and 3 are)")
    return major


def resolve_version(found: str | None, override: int | None, source: object) -> tuple[str | None, int | None]:
    """Combine the file's own version with ``--keras-version``; a contradiction is an error."""
    try:
        major = keras_major(found)
    except ConversionError as exc:
        raise ConversionError(f"{source}: {exc}") from None
    if override is not None:
        if override not in (2, 3):
            raise ConversionError(f"--keras-version must be 2 or 3, not {override}")
        if major is not None and major != override:
            raise ConversionError(
                f"{source}: the file says Keras {found} but --keras-version {override} was given"
            )
        return found, override
    return found, major
