"""Vietnam's time zone: the one constant every module uses.

Dates on the national APIs and the city's systems are local time in Asia/Ho_Chi_Minh,
UTC+7 all year (no daylight saving; unchanged since 1975). A fixed offset rather than
``ZoneInfo("Asia/Ho_Chi_Minh")``: same answers for any date the gateway handles, and it
needs no tz database in the image (slim images may ship none).

This module does no I/O.
"""

from __future__ import annotations

from datetime import timedelta, timezone

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Asia/Ho_Chi_Minh (UTC+7)."""
