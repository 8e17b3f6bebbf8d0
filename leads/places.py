"""Where each US ZIP is, and which time zones and states each area code serves.

From the `zipcodes` package's USPS-derived records (its public `list_all()`), reduced to what
intake and the gate need and shipped as `leads/data/places.json.gz`: loading the package's
records keeps 140 MB in every process that reads them, the reduced file a few MB.
`manage.py refresh_places` rebuilds the file after a `zipcodes` upgrade.

Area codes come from the same records (every ZIP lists the area codes that serve it), because
phonenumbers gives one zone for split area codes such as 850.
"""

import gzip
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PLACES_FILE = Path(__file__).resolve().parent / "data" / "places.json.gz"


@dataclass(frozen=True)
class ZipLocation:
    zip_code: str
    state: str
    city: str
    time_zone: str


@dataclass(frozen=True)
class PlaceTables:
    """Where each ZIP is, and which zones and states each area code serves."""

    zips: dict[str, ZipLocation]
    area_codes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    state_zones: dict[str, tuple[str, ...]]


def places_records() -> list[list]:
    """Return [ZIP, state, city, zone, area codes] for every US ZIP in a US zone, from the
    zipcodes package."""
    import zipcodes

    return [
        [row["zip_code"], row["state"], row["city"], row["timezone"], sorted(row["area_codes"])]
        for row in zipcodes.list_all()
        if row["timezone"].startswith(("America/", "Pacific/"))
    ]


def places_file_write(*, path: Path = PLACES_FILE) -> int:
    """Write the shipped places file from the zipcodes package; return how many ZIPs."""
    records = places_records()
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
        json.dump(records, out, separators=(",", ":"))
    return len(records)


@cache
def place_tables() -> PlaceTables:
    """Load the lookup tables once per process (a tenth of a second)."""
    with gzip.open(PLACES_FILE, "rt", encoding="utf-8") as data:
        records = json.load(data)
    zips: dict[str, ZipLocation] = {}
    area_zones: dict[str, set[str]] = {}
    area_states: dict[str, set[str]] = {}
    state_zones: dict[str, set[str]] = {}
    for zip_code, state, city, zone, area_codes in records:
        zone, state = sys.intern(zone), sys.intern(state)
        zips[zip_code] = ZipLocation(zip_code, state, city, zone)
        state_zones.setdefault(state, set()).add(zone)
        for area_code in area_codes:
            area_zones.setdefault(area_code, set()).add(zone)
            area_states.setdefault(area_code, set()).add(state)
    return PlaceTables(
        zips=zips,
        area_codes={
            code: (tuple(sorted(area_zones[code])), tuple(sorted(area_states[code])))
            for code in area_zones
        },
        state_zones={state: tuple(sorted(zones)) for state, zones in state_zones.items()},
    )


def area_code_places(area_code: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the time zones and the states an area code serves."""
    return place_tables().area_codes.get(area_code, ((), ()))


def zip_location(zip5: str) -> ZipLocation | None:
    """Return where a ZIP is, or None for a ZIP that does not exist."""
    return place_tables().zips.get(zip5)
