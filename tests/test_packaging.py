"""`make install` builds the project quietly: no setuptools deprecation warning before the demo's banner."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_the_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    # A `{ text = ... }` table makes setuptools >= 77 print a 20-line SetuptoolsDeprecationWarning per
    # build step; the string form needs setuptools 77.
    data = tomllib.loads(PYPROJECT.read_text())
    assert data["project"]["license"] == "AGPL-3.0-or-later"
    (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert match is not None and int(match.group(1)) >= 77
