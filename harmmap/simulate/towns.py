"""Real English town and city centres used by the simulator.

Centre coordinates are the public centre points of each town (market square,
clock tower or main shopping street), to about 100 m.  ``weight`` is roughly the
urban population in thousands: it sets the town's share of simulated crime and
how far its crime spreads.  ``force`` is the territorial police force that
covers the town, as police.uk names it in ``Reported by``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Town:
    """One town centre of the simulator."""

    name: str
    lat: float
    lng: float
    force: str
    force_slug: str
    postcode_area: str
    weight: float


_FORCES = {
    "leicestershire": "Leicestershire Police",
    "nottinghamshire": "Nottinghamshire Police",
    "derbyshire": "Derbyshire Constabulary",
    "northamptonshire": "Northamptonshire Police",
    "west-midlands": "West Midlands Police",
    "lincolnshire": "Lincolnshire Police",
    "cambridgeshire": "Cambridgeshire Constabulary",
    "staffordshire": "Staffordshire Police",
    "warwickshire": "Warwickshire Police",
    "south-yorkshire": "South Yorkshire Police",
    "west-yorkshire": "West Yorkshire Police",
    "bedfordshire": "Bedfordshire Police",
    "thames-valley": "Thames Valley Police",
    "west-mercia": "West Mercia Police",
}

# name, lat, lng, force slug, postcode district of the centre, weight
_TABLE = (
    ("Leicester", 52.6345, -1.1316, "leicestershire", "LE1", 350),
    ("Loughborough", 52.7721, -1.2062, "leicestershire", "LE11", 60),
    ("Hinckley", 52.5387, -1.3730, "leicestershire", "LE10", 45),
    ("Coalville", 52.7234, -1.3697, "leicestershire", "LE67", 35),
    ("Melton Mowbray", 52.7657, -0.8870, "leicestershire", "LE13", 27),
    ("Market Harborough", 52.4777, -0.9213, "leicestershire", "LE16", 24),
    ("Nottingham", 52.9533, -1.1500, "nottinghamshire", "NG1", 330),
    ("Mansfield", 53.1440, -1.1968, "nottinghamshire", "NG18", 80),
    ("Newark-on-Trent", 53.0764, -0.8090, "nottinghamshire", "NG24", 30),
    ("Derby", 52.9217, -1.4766, "derbyshire", "DE1", 260),
    ("Chesterfield", 53.2352, -1.4241, "derbyshire", "S40", 90),
    ("Northampton", 52.2370, -0.8950, "northamptonshire", "NN1", 220),
    ("Kettering", 52.3980, -0.7260, "northamptonshire", "NN16", 60),
    ("Corby", 52.4893, -0.6987, "northamptonshire", "NN17", 55),
    ("Coventry", 52.4081, -1.5106, "west-midlands", "CV1", 340),
    ("Birmingham", 52.4796, -1.9030, "west-midlands", "B2", 1100),
    ("Wolverhampton", 52.5866, -2.1286, "west-midlands", "WV1", 260),
    ("Lincoln", 53.2293, -0.5404, "lincolnshire", "LN1", 100),
    ("Grantham", 52.9118, -0.6416, "lincolnshire", "NG31", 45),
    ("Boston", 52.9768, -0.0254, "lincolnshire", "PE21", 45),
    ("Peterborough", 52.5725, -0.2424, "cambridgeshire", "PE1", 200),
    ("Cambridge", 52.2050, 0.1190, "cambridgeshire", "CB2", 145),
    ("Stoke-on-Trent", 53.0244, -2.1757, "staffordshire", "ST1", 260),
    ("Stafford", 52.8065, -2.1167, "staffordshire", "ST16", 70),
    ("Nuneaton", 52.5230, -1.4680, "warwickshire", "CV11", 90),
    ("Rugby", 52.3710, -1.2630, "warwickshire", "CV21", 75),
    ("Sheffield", 53.3807, -1.4702, "south-yorkshire", "S1", 580),
    ("Leeds", 53.7965, -1.5447, "west-yorkshire", "LS1", 790),
    ("Bedford", 52.1360, -0.4667, "bedfordshire", "MK40", 105),
    ("Milton Keynes", 52.0406, -0.7594, "thames-valley", "MK9", 230),
    ("Oxford", 51.7520, -1.2577, "thames-valley", "OX1", 150),
    ("Worcester", 52.1925, -2.2200, "west-mercia", "WR1", 100),
    ("Shrewsbury", 52.7079, -2.7530, "west-mercia", "SY1", 75),
)

TOWNS: tuple[Town, ...] = tuple(
    Town(name, lat, lng, _FORCES[slug], slug, area, float(weight)) for name, lat, lng, slug, area, weight in _TABLE
)


def select_towns(count: int | None = None) -> tuple[Town, ...]:
    """Return the first ``count`` towns of :data:`TOWNS` (all when ``None``).

    Raises
    ------
    ConfigError
        When ``count`` is not between 1 and the number of towns.
    """
    from harmmap.errors import ConfigError

    if count is None:
        return TOWNS
    if not 1 <= int(count) <= len(TOWNS):
        raise ConfigError(
            f"the simulator knows {len(TOWNS)} towns",
            given=f"towns={count}",
            fix=f"use a number from 1 to {len(TOWNS)}, or leave it out for all of them",
        )
    return TOWNS[: int(count)]

