"""Errors that reach the user as one clear line: what is wrong and what is valid."""


class ReproError(Exception):
    """Bad input or state; the CLI prints the message and exits with status 2, before any work starts."""


def unknown(kind: str, name: str, valid, plural: str | None = None) -> ReproError:
    valid = ", ".join(sorted(valid)) or "(none)"
    return ReproError(f"unknown {kind} '{name}'; valid {plural or kind + 's'}: {valid}")


class RunningElsewhere(ReproError):
    """The run is held (locked) by another process: a sweep skips it as "running elsewhere", never as a failure."""
