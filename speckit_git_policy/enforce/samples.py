"""Measured samples (latencies), counts and amounts, parsed strictly, and the p95 of samples."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from speckit_git_policy.errors import BadInput
from speckit_git_policy.text import did_you_mean

MAX_SAMPLES_BYTES = 16 * 1024 * 1024  # far above any real latency log; refuses a runaway file


_COUNT = re.compile(r"[0-9]+")


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    return did_you_mean(word, choices, aside=True)


def _sample_value(token: str, where: str, what: str = "samples are durations") -> float:
    if not _NUMBER.fullmatch(token):
        if token.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise BadInput(f"{where}: {token!r} is not a finite number")
        raise BadInput(f"{where}: {token!r} is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise BadInput(f"{where}: {token!r} is not a finite number")
    if value < 0:
        raise BadInput(f"{where}: {token!r} is negative; {what}")
    return value


def _json_samples(text: str, source: str) -> list[float]:
    """A JSON array of numbers, each error located to its line."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    values: list[float] = []

    def line_at(index: int) -> int:
        return text.count("\n", 0, index) + 1

    def skip_space(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    position = skip_space(position)
    if position < len(text) and text[position] == "]":
        position += 1
    else:
        while True:
            where = f"{source}:{line_at(position)}"
            try:
                item, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError as e:
                raise BadInput(f"{where}: not valid JSON ({e.msg})") from e
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise BadInput(f"{where}: {json.dumps(item)[:40]} is not a number")
            values.append(_sample_value(text[position:end], where))
            position = skip_space(end)
            if position < len(text) and text[position] == ",":
                position = skip_space(position + 1)
                continue
            if position < len(text) and text[position] == "]":
                position += 1
                break
            raise BadInput(f"{source}:{line_at(position)}: expected ',' or ']' in the JSON array")
    if text[position:].strip():
        raise BadInput(f"{source}:{line_at(position)}: unexpected text after the JSON array")
    return values


def parse_samples(text: str, source: str = "<samples>") -> tuple[float, ...]:
    """Samples from text: one number per line (blank lines and ``#`` comments allowed)
    or a JSON array of numbers. NaN, infinities, negatives, non-numbers and an empty
    list are BadInput naming ``source`` and the line."""
    if text.lstrip().startswith("["):
        values = _json_samples(text, source)
    else:
        values = []
        for number, line in enumerate(text.splitlines(), start=1):
            token = line.split("#", 1)[0].strip()
            if token:
                values.append(_sample_value(token, f"{source}:{number}"))
    if not values:
        raise BadInput(f"{source}: no samples (the file holds no numbers)")
    return tuple(values)


def load_samples(path: str | Path) -> tuple[float, ...]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SAMPLES_BYTES:
            raise BadInput(
                f"{path}: {size} bytes is more than the {MAX_SAMPLES_BYTES} a samples file may hold"
            )
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(f"{path}: cannot read samples: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text") from e
    return parse_samples(text, str(path))


def _checked(samples: Sequence[float], what: str) -> tuple[float, ...]:
    """Samples handed to the library directly get the same checks as a file's."""
    values = tuple(samples)
    if not values:
        raise BadInput(f"{what}: no samples")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"{what}[{index}]: {value!r} is not a number")
        if not math.isfinite(value) or value < 0:
            raise BadInput(f"{what}[{index}]: {value!r} is not a finite, non-negative number")
    return values


def p95(samples: Sequence[float]) -> float:
    """Nearest-rank 95th percentile: the sample at rank ceil(0.95 n) of the sorted samples."""
    values = sorted(_checked(samples, "samples"))
    rank = (95 * len(values) + 99) // 100  # ceil without float rounding
    return float(values[rank - 1])


def _exact(value: float) -> Fraction:
    """A policy number as the decimal its author wrote (85.1 is 851/10, not the float's binary)."""
    return Fraction(repr(float(value)))


def parse_amount(text: str) -> float:
    """A cost given as text (the CLI's argument)."""
    return _sample_value(text.strip(), "cost", "a cost cannot be negative")


def parse_success(text: str) -> tuple[int, int]:
    """``LOCAL/CLOUD`` success counts, e.g. ``85/100``."""
    local, slash, cloud = text.partition("/")
    if not slash or not _COUNT.fullmatch(local.strip()) or not _COUNT.fullmatch(cloud.strip()):
        raise BadInput(f"success counts {text!r}: expected LOCAL/CLOUD, e.g. 85/100")
    return int(local), int(cloud)
