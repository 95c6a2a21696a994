"""What this machine says about where it is: its time zone and the locale that formats
its dates, read from the environment and /etc. ``init`` puts them in a new workbook's
Settings, so the workbook starts out in the user's zone and date order.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path


def _zone_name(name: str) -> str | None:
    name = name.strip().removeprefix(":")
    if not name or name.startswith("/"):
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def machine_timezone() -> str:
    """Return this machine's IANA time zone name ($TZ, else /etc/localtime's target, else
    /etc/timezone), or UTC when none can be told."""
    candidates = [os.environ.get("TZ", "")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8"))
    except OSError:
        pass
    for candidate in candidates:
        name = _zone_name(candidate)
        if name is not None:
            return name
    return "UTC"


def machine_locale() -> str:
    """Return the locale that formats dates here (LC_ALL, else LC_TIME, else LANG)."""
    for variable in ("LC_ALL", "LC_TIME", "LANG"):
        if os.environ.get(variable):
            return os.environ[variable]
    return ""
