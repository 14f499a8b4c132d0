"""Reading a Dockerfile without Docker: its instructions, its build stage, its ENV.

Shared by test_compose.py (static checks) and test_images.py (the build stage replayed).
"""

from __future__ import annotations

import shlex


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    instructions = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def first_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the first FROM stage (the build stage), without the FROM itself."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    end = starts[1] if len(starts) > 1 else len(instructions)
    return instructions[starts[0] + 1 : end] if starts else instructions


def env_pairs(args: str) -> dict[str, str]:
    """An ENV instruction's `KEY=value ...` pairs (the legacy `KEY value` form too)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)
