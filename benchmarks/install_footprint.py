"""Install footprint: disk used by mtmm-es's dependency closure, per extra, from the installed files.

    python benchmarks/install_footprint.py [--top 12]

Walks the requirements of the installed `mtmm-es` (markers evaluated for this machine) and sums the
sizes of the files each distribution installed (its RECORD), so it measures what `pip install`
puts in a virtual environment for the default install and for each extra, without installing
anything. Prints the largest distributions and one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _size(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or ():
        try:
            total += file.locate().stat().st_size
        except OSError:
            pass
    return total


def closure(extras: tuple[str, ...] = (), missing: set[str] | None = None) -> dict[str, int]:
    """Distribution name -> installed bytes, for mtmm-es with `extras` and everything it pulls;
    names required but not installed here go into `missing`."""
    seen: dict[str, int] = {}
    pending = [(canonicalize_name("mtmm-es"), extras)]
    while pending:
        name, wanted = pending.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if missing is not None:
                missing.add(name)
            continue
        first = name not in seen
        seen.setdefault(name, _size(dist))
        for line in dist.requires or ():
            requirement = Requirement(line)
            environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            child = canonicalize_name(requirement.name)
            if first or requirement.extras:
                pending.append((child, tuple(requirement.extras)))
    seen.pop("mtmm-es", None)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    extras = metadata.metadata("mtmm-es").get_all("Provides-Extra") or []
    default = closure()
    report = {"default_mb": round(sum(default.values()) / 2**20), "default_packages": len(default)}
    for name, size in sorted(default.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {name:32s} {size / 2**20:8.0f} MB")
    for extra in extras:
        missing: set[str] = set()
        added = {k: v for k, v in closure((extra,), missing).items() if k not in default}
        if missing:
            print(f"[{extra}] not installed here (missing: {', '.join(sorted(missing))})")
            continue
        report[f"extra_{extra}_adds_mb"] = round(sum(added.values()) / 2**20)
        biggest = ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in sorted(added.items(), key=lambda i: -i[1])[:3])
        print(f"[{extra}] adds {sum(added.values()) / 2**20:.0f} MB: {biggest}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
