"""Every rule code and whether it is on by default, for the start of a run, before the rule modules
(and libcst with them) are imported. Generated from the rule records by ``python -m bglint.docs
--write``; ``tests/test_rule_metadata.py`` fails when it is stale.
"""

CODES = {
    "BG101": True,
    "BG102": True,
    "BG103": True,
    "BG104": True,
    "BG105": True,
    "BG106": True,
    "BG107": True,
    "BG108": True,
    "BG201": True,
    "BG202": True,
    "BG203": True,
    "BG204": True,
    "BG301": True,
    "BG302": True,
    "BG303": True,
    "BG304": True,
    "BG305": True,
    "BG401": True,
    "BG402": True,
    "BG403": True,
    "BG404": True,
    "BG501": False,
    "BG502": False,
}
