"""Validates `lakehound export --format ocsf` output against the OCSF 1.5.0
Detection Finding class (class_uid 2004), as the pydantic-ocsf package
ships it (tests/python/requirements.txt).

Two checks on every record:

1. pydantic-ocsf's own model, `ocsf.v1_5_0.events.DetectionFinding`
   (required attributes, types, enum ids).
2. A strict walk of the same package's schema JSON: the models accept
   unknown attributes (pydantic `extra="allow"`), so a misspelt attribute
   would pass them; the walk rejects any attribute the class or object does
   not define, checks every required attribute, `at_least_one` constraints,
   primitive types, enum ids and their caption siblings, at any depth.

Usage: check_ocsf.py RECORDS.jsonl [RECORDS.parquet]
With a Parquet file, also checks that it holds the same records (nulls
dropped). Prints one line per problem and exits 1, or prints a summary.
"""

import json
import math
import sys
from pathlib import Path

import ocsf
from ocsf.v1_5_0.events import DetectionFinding

VERSION = "1.5.0"
CLASS_UID = 2004
CATEGORY_UID = 2
# The `host` profile, which 1.5.0's base event applies, brings `actor` and
# `device`; the package's schema JSON leaves profiles out.
HOST_PROFILE = {"actor": {"requirement": "recommended"}, "device": {"requirement": "recommended"}}
# Set by the class (checked below), not enumerated in the schema JSON.
FIXED_UIDS = {"class_uid", "category_uid", "type_uid"}
# The type of `unmapped`: an object whose attributes are the producer's own.
FREE_FORM = "object"

SCHEMA = json.loads((Path(ocsf.__file__).parent / "schemas" / "v1_5_0.json").read_text())
DICTIONARY = SCHEMA["dictionary"]["attributes"]
TYPES = SCHEMA["dictionary"]["types"]["attributes"]
OBJECTS = SCHEMA["objects"]
EVENTS = SCHEMA["events"]


def merged(chain):
    """Attributes and at_least_one constraints of definitions, parent first."""
    attrs, constraints = {}, []
    for definition in chain:
        for name, local in definition.get("attributes", {}).items():
            if name == "$include":
                continue
            attrs[name] = {**attrs.get(name, {}), **local}
        at_least_one = definition.get("constraints", {}).get("at_least_one")
        if at_least_one:
            constraints.append(at_least_one)
    return attrs, constraints


def object_chain(name):
    chain = []
    while name:
        definition = OBJECTS[name]
        chain.insert(0, definition)
        name = definition.get("extends")
    return chain


def event_shape():
    attrs, constraints = merged(
        [EVENTS["base_event"], EVENTS["finding"], EVENTS["detection_finding"]]
    )
    attrs.update(HOST_PROFILE)
    return attrs, constraints


def definition(name, local):
    """The dictionary's definition of an attribute with the class's or
    object's overrides; enums merge (the class adds and recaptions ids)."""
    base = DICTIONARY.get(name, {})
    out = {**base, **local}
    if "enum" in base or "enum" in local:
        out["enum"] = {**base.get("enum", {}), **local.get("enum", {})}
    return out


def primitive(type_name):
    while type_name in TYPES and TYPES[type_name].get("type"):
        type_name = TYPES[type_name]["type"]
    return type_name


def type_ok(value, type_name):
    base = primitive(type_name)
    if base == "string_t":
        return isinstance(value, str)
    if base in ("integer_t", "long_t"):
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float_t":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if base == "boolean_t":
        return isinstance(value, bool)
    return base in ("json_t", "object_t")


def walk(value, shape, path, problems):
    attrs, constraints = shape
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object, got {value!r}")
        return
    for name in sorted(set(value) - set(attrs)):
        problems.append(f"{path}.{name}: not an attribute of this class or object")
    for name, local in attrs.items():
        if local.get("requirement") == "required" and name not in value:
            problems.append(f"{path}.{name}: required, missing")
    for names in constraints:
        if not any(n in value for n in names):
            problems.append(f"{path}: needs at least one of {names}")
    for name, item in value.items():
        if name in attrs:
            check(item, name, definition(name, attrs[name]), value, f"{path}.{name}", problems)


def check(value, name, d, parent, path, problems):
    if d.get("is_array"):
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array, got {value!r}")
            return
        for i, item in enumerate(value):
            check_one(item, name, d, parent, f"{path}[{i}]", problems)
    else:
        check_one(value, name, d, parent, path, problems)


def check_one(value, name, d, parent, path, problems):
    type_name = d.get("type", "")
    if type_name == FREE_FORM:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {value!r}")
        return
    if type_name in OBJECTS:
        walk(value, merged(object_chain(type_name)), path, problems)
        return
    if not type_ok(value, type_name):
        problems.append(f"{path}: {value!r} is not a {type_name}")
        return
    enum = d.get("enum")
    if enum and name not in FIXED_UIDS:
        if str(value) not in enum:
            problems.append(f"{path}: {value!r} is not one of {sorted(enum)}")
            return
        sibling = d.get("sibling")
        caption = enum[str(value)].get("caption")
        if sibling in parent and str(value) != "99" and parent[sibling] != caption:
            problems.append(f"{path}: {sibling} is {parent[sibling]!r}, not {caption!r}")


def check_record(record, where, problems):
    try:
        DetectionFinding.model_validate(record)
    except Exception as err:  # pydantic's ValidationError lists every field
        problems.append(f"{where}: pydantic-ocsf {VERSION}: {err}")
    walk(record, event_shape(), where, problems)
    expected = {
        "class_uid": CLASS_UID,
        "category_uid": CATEGORY_UID,
        "type_uid": CLASS_UID * 100 + record.get("activity_id", 0),
    }
    for key, want in expected.items():
        if record.get(key) != want:
            problems.append(f"{where}.{key}: {record.get(key)!r}, expected {want}")
    if record.get("metadata", {}).get("version") != VERSION:
        problems.append(f"{where}.metadata.version: not {VERSION}")


def without_nulls(value):
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def check_parquet(path, records, problems):
    import pyarrow.parquet as pq

    rows = [without_nulls(r) for r in pq.read_table(path).to_pylist()]
    if len(rows) != len(records):
        problems.append(f"{path}: {len(rows)} rows, {len(records)} JSON records")
    for i, (row, record) in enumerate(zip(rows, records)):
        if row != record:
            problems.append(f"{path} row {i}: differs from JSON record {i}")


def main(argv):
    lines = Path(argv[1]).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    problems = []
    for i, record in enumerate(records):
        check_record(record, f"record {i}", problems)
    if len(argv) > 2:
        check_parquet(argv[2], records, problems)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{len(records)} records valid OCSF {VERSION} Detection Findings")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
