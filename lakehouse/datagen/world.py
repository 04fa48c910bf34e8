"""The synthetic world the generator draws from: the period, offices, operators and people.

Everything here is derived from one `random.Random`, so the same seed gives the same world. The
names are synthetic: first names and surnames drawn from short lists, never real records.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

UNKNOWN_OFFICE = "OF-9999"  # planted on purpose; never inserted into the registry

REGIONS = ("NORTE", "SUR", "CENTRO", "ESTE", "OESTE", "LITORAL")
_DISTRICT_STEMS = ("San Martín", "Belgrano", "Rivadavia", "Las Flores", "El Molino", "La Ribera",
                   "Santa Rosa", "Los Álamos", "Villa Nueva", "Puerto Viejo", "Monte Alto", "Valle Claro")
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elena", "Facundo", "Gabriela", "Hugo", "Inés",
               "Julián", "Lucía", "Mateo", "Natalia", "Óscar", "Paula", "Ramiro", "Sofía", "Tomás",
               "Valeria", "Ximena")
LAST_NAMES = ("Acosta", "Benítez", "Castro", "Domínguez", "Escobar", "Figueroa", "Giménez", "Herrera",
              "Ibarra", "Juárez", "Ledesma", "Molina", "Núñez", "Ortiz", "Paz", "Quiroga", "Ríos",
              "Sosa", "Toledo", "Vega")
OPERATOR_ROLES = ("operator", "operator", "biometrics_technician", "supervisor")


@dataclass(frozen=True)
class Period:
    """`days` UTC days from `start`; part 1 is the first `half` days, part 2 the rest."""

    start: datetime
    days: int

    @property
    def half(self) -> int:
        return self.days // 2

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def day_of(self, moment: datetime) -> int:
        return (moment - self.start).days

    def date_of(self, day: int) -> date:
        return (self.start + timedelta(days=day)).date()

    def days_of(self, part: str) -> range:
        return {"1": range(0, self.half), "2": range(self.half, self.days), "all": range(self.days)}[part]


@dataclass(frozen=True)
class Office:
    office_id: str
    name: str
    region: str
    district: str
    opened_on: date
    updated_at: datetime


@dataclass(frozen=True)
class Operator:
    operator_id: str
    office_id: str
    full_name: str
    role: str
    updated_at: datetime


class MovedOffice(NamedTuple):
    """The office that moves to another region in part 2 (an SCD2 change in the registry)."""

    office_id: str
    old_region: str
    new_region: str
    changed_at: datetime


class ChangedOperator(NamedTuple):
    """An operator whose role changes in part 2."""

    operator_id: str
    old_role: str
    new_role: str
    changed_at: datetime


@dataclass(frozen=True)
class World:
    period: Period
    offices: tuple[Office, ...]
    operators: tuple[Operator, ...]
    moved_office: MovedOffice
    changed_operator: ChangedOperator

    def operators_of(self, office_id: str) -> list[Operator]:
        return [op for op in self.operators if op.office_id == office_id]


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def full_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}"


def iso_ms(moment: datetime, offset_minutes: int = 0) -> str:
    """ISO-8601 with milliseconds; 'Z' for UTC, else the same instant shown at `offset_minutes`."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if offset_minutes == 0 else text


def build_world(rng: random.Random, start: datetime, days: int, office_count: int) -> World:
    period = Period(start, days)
    regions = list(REGIONS[: 4 + rng.randrange(3)])
    districts = {region: rng.sample(_DISTRICT_STEMS, 3) for region in regions}
    offices: list[Office] = []
    operators: list[Operator] = []
    for number in range(1, office_count + 1):
        # Round-robin first so every region has an office even when there are only a few.
        region = regions[(number - 1) % len(regions)] if number <= len(regions) else rng.choice(regions)
        district = rng.choice(districts[region])
        office_id = f"OF-{number:04d}"
        opened_on = (start - timedelta(days=rng.randint(400, 6000))).date()
        updated_at = start - timedelta(days=rng.randint(2, 90), seconds=rng.randint(0, 86_399))
        offices.append(Office(office_id, f"Oficina {district} {number}", region, district, opened_on, updated_at))
        for _ in range(rng.randint(2, 4)):
            operators.append(Operator(f"OP-{len(operators) + 1:05d}", office_id, full_name(rng),
                                      rng.choice(OPERATOR_ROLES),
                                      start - timedelta(days=rng.randint(1, 60), seconds=rng.randint(0, 86_399))))
    moving = rng.choice(offices)
    changed_at = start + timedelta(days=period.half, hours=rng.randint(9, 15), minutes=rng.randint(0, 59))
    moved = MovedOffice(moving.office_id, moving.region,
                        rng.choice([r for r in regions if r != moving.region]), changed_at)
    promoted = rng.choice([op for op in operators if op.role != "supervisor"])
    changed = ChangedOperator(promoted.operator_id, promoted.role, "supervisor", changed_at + timedelta(hours=2))
    return World(period, tuple(offices), tuple(operators), moved, changed)


def registry_rows(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """The rows part 1 inserts, as tuples in the column order of REGISTRY_DDL."""
    return {
        "offices": [(o.office_id, o.name, o.region, o.district, o.opened_on, o.updated_at) for o in world.offices],
        "operators": [(o.operator_id, o.office_id, o.full_name, o.role, o.updated_at) for o in world.operators],
    }
