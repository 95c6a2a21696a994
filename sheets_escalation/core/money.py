"""Reading amounts of money people type: ``$1,200.50``, ``1.200,50 €``, ``2k``, ``(50)``.

One reader, :func:`parse_money`, total like every reader in :mod:`core.cells`: any value
either reads as an amount or yields a problem for its row. The currency is ignored; the
work is in the digits, where a comma or a dot may group thousands or mark the decimals.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from sheets_escalation.core.cells import (
    BOOL,
    DATE,
    DATETIME,
    MAX_TOKEN,
    NUMBER,
    OTHER,
    STR,
    ParsedColumn,
    blank_floats,
    classify,
    distinct_values,
    is_blank_text,
    problem_series,
    to_floats,
)

__all__ = ["parse_money"]

_CURRENCY_SYMBOLS = "$£€¥₹₩₽₺₪₫₱฿₦₴₲₵₡¢"
_CURRENCY_CODES = (
    "usd", "eur", "gbp", "cad", "aud", "nzd", "chf", "jpy", "cny", "rmb", "inr", "sek", "nok",
    "dkk", "pln", "czk", "huf", "brl", "mxn", "zar", "sgd", "hkd", "krw", "try", "ils", "aed",
    "sar", "php", "thb", "idr", "myr", "ngn", "kes", "egp", "ars", "clp", "cop", "pen", "uah",
    "ron", "bgn", "isk", "twd", "vnd", "pkr", "bdt", "us$", "a$", "c$", "nz$", "hk$", "r$",
    "s$", "kr", "zł", "fr.", "fr", "rs.", "rs",
)
_CURRENCY_CODE = "(?:" + "|".join(re.escape(code) for code in _CURRENCY_CODES) + ")"
_MINUS = r"\-−–"  # escaped: a bare "-" inside [...] would make a range
_MONEY = re.compile(
    r"(?P<open>\()?\s*(?P<lead_sign>[+" + _MINUS + r"])?\s*"
    r"(?:(?P<lead_code>" + _CURRENCY_CODE + r")\s*|[" + _CURRENCY_SYMBOLS + r"]\s*)?"
    r"(?P<sign>[+" + _MINUS + r"])?\s*"
    r"(?P<number>\d+(?:[\s.,'’]\d+)*|[.,]\d+)"
    r"\s*(?P<scale>k|mn|m)?"
    r"\s*(?:(?P<trail_code>" + _CURRENCY_CODE + r")|[" + _CURRENCY_SYMBOLS + r"])?"
    r"\s*(?P<trail_sign>[" + _MINUS + r"])?\s*(?P<close>\))?"
)
_GROUPED = re.compile(r"\d{1,3}(?:(?P<sep>[,.\s'’])\d{3})(?:(?P=sep)\d{3})*")
_SCALES = {"k": 1e3, "m": 1e6, "mn": 1e6}


def _number_text(body: str) -> float | None:
    """Given the digits-and-separators part of an amount, return its value or None.

    ``1,200.50`` and ``1.200,50`` are both 1200.5 (the last separator is the decimal one
    when both appear); a lone comma before exactly three digits groups thousands
    (``1,200``), before one or two digits it is decimal (``12,5``); a lone dot is always
    decimal (``1.200`` is 1.2); spaces and apostrophes group thousands.
    """
    body = body.strip()
    if "," in body and "." in body:
        decimal = "," if body.rfind(",") > body.rfind(".") else "."
        whole, _, fraction = body.rpartition(decimal)
        return _grouped_number(whole, fraction)
    if "," in body or "." in body:
        separator = "," if "," in body else "."
        parts = body.split(separator)
        if len(parts) == 2 and not (separator == "," and len(parts[1]) == 3):
            return _grouped_number(parts[0], parts[1])
        if len(parts) == 2 and parts[0] == "":
            return None
        return _grouped_number(body, "")
    return _grouped_number(body, "")


def _grouped_number(whole: str, fraction: str) -> float | None:
    """Given the whole part (digits, maybe grouped by one separator) and the fraction
    digits, return the number or None if the grouping or digits are malformed."""
    whole = whole.strip()
    if fraction and not fraction.isdigit():
        return None
    if whole == "":
        whole = "0"
    if not whole.isdigit():
        if not _GROUPED.fullmatch(whole):
            return None
        whole = re.sub(r"\D", "", whole)
    try:
        return float(f"{whole}.{fraction or '0'}")
    except (ValueError, OverflowError):
        return None


def _money_text(text: str) -> float | None:
    """Given trimmed text, return the amount it states, or None if blank or unreadable."""
    if text == "" or len(text) > MAX_TOKEN:
        return None
    return _parse_money_text(text)


@lru_cache(maxsize=65_536)
def _parse_money_text(text: str) -> float | None:
    match = _MONEY.fullmatch(text.casefold())
    if match is None:
        return None
    if bool(match.group("open")) != bool(match.group("close")):
        return None
    signs = [s for s in (match.group("lead_sign"), match.group("sign"), match.group("trail_sign")) if s]
    if len(signs) > 1 or (match.group("lead_code") and match.group("trail_code")):
        return None
    amount = _number_text(match.group("number"))
    if amount is None:
        return None
    if match.group("scale"):
        amount *= _SCALES[match.group("scale")]
    negative = bool(match.group("open")) or (signs != [] and signs[0] != "+")
    if not math.isfinite(amount):
        return None
    return -amount if negative else amount


def parse_money(raw: pd.Series, header: str) -> ParsedColumn:
    """Given raw cells of a money column, return amounts as float64 (NaN when blank).

    Reads numbers and text such as ``1200``, ``$1,200.50``, ``USD 1200``, ``1200 EUR``,
    ``£300``, ``1.200,50 €``, ``1 200``, ``2k``, ``1.5M``, ``-50`` and ``(50)`` (negative, as
    accountants write it). The currency is ignored. Blank cells (and ``-``, ``n/a``,
    ``none``) are NaN with no problem; anything else (text, booleans, dates, infinities) is
    NaN with the problem ``{header}: cannot read "{value}" as an amount``.
    """
    index = raw.index
    values, kinds = classify(raw)
    kinds = blank_floats(values, kinds)
    amounts = np.full(len(values), np.nan, dtype=np.float64)
    bad = np.isin(kinds, (BOOL, DATETIME, DATE, OTHER))

    numbers_at = np.flatnonzero(kinds == NUMBER)
    if len(numbers_at):
        floats, fits = to_floats(values[numbers_at])
        ok = fits & np.isfinite(floats)
        amounts[numbers_at[ok]] = floats[ok]
        bad[numbers_at[~ok]] = True

    strings_at = np.flatnonzero(kinds == STR)
    if len(strings_at):
        codes, distinct = distinct_values(values[strings_at])
        distinct_amounts = np.full(len(distinct), np.nan, dtype=np.float64)
        distinct_bad = np.zeros(len(distinct), dtype=bool)
        for position, text in enumerate(distinct):
            amount = _money_text(text)
            if amount is None:
                distinct_bad[position] = not is_blank_text(text)
            else:
                distinct_amounts[position] = amount
        amounts[strings_at] = distinct_amounts[codes]
        bad[strings_at] = distinct_bad[codes]

    problems = problem_series(index, header, "an amount", values, bad)
    return ParsedColumn(pd.Series(amounts, index=index, dtype=np.float64), problems)
