#!/usr/bin/env python3
"""The independent reader of the Iceberg sink's tables: pyiceberg.

    iceberg_read.py rest URL --table NS.T [--token T] [--rows]
                    [--warehouse W] [--ca PEM] [--prop KEY=VALUE ...]
        through pyiceberg's RestCatalog client at URL (warehouse W, default `lake`; an
        https URL trusting the CA certificates in PEM; catalog properties such as
        s3.endpoint for the data files)
    iceberg_read.py rest URL --table NS.T [--token T] --create NAME:TYPE,...
        creates the (empty) table first, as another writer would
    iceberg_read.py embedded ROOT --table NS.T [--rows]
        an embedded catalog (iceberg://ROOT): the newest metadata file of the table under
        ROOT/warehouse/NS/T/metadata, read with StaticTable.from_metadata (iceberg-rust and
        pyiceberg disagree on one SQL-catalog column, so the catalog file is not opened)
    iceberg_read.py embedded ROOT --table NS.T --create NAME:TYPE,...
        creates the table in an existing catalog file ROOT/catalog.db with pyiceberg's
        SqlCatalog (catalog name `weir`, the sink's default)

Prints one JSON document: rows, distinct_ids, duplicate_ids, min_id, max_id (of the `id`
column, when there is one), summary (the current snapshot's), snapshots, positions (the newest value of each
`weir.` key over the current snapshot's ancestry), spec (fields as
"name: transform(source column)"), schema ("id: name type" lines), partitions (the distinct
partition values of the data files), files, file_dirs (the tables' directories the data
files are under), and with --rows every row sorted by id.
"""

import argparse
import glob
import json
import os
import sys


def table_of(args):
    if args.cmd == "rest":
        from pyiceberg.catalog.rest import RestCatalog

        props = {"uri": args.target, "warehouse": args.warehouse}
        if args.token:
            props["token"] = args.token
        if args.ca:
            # requests lets these variables win over a session's own CA bundle.
            for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                os.environ.pop(var, None)
            props["ssl"] = {"cabundle": args.ca}
        for kv in args.prop:
            key, _, value = kv.partition("=")
            props[key] = value
        return RestCatalog("rest", **props).load_table(args.table)
    from pyiceberg.table import StaticTable

    ns, name = args.table.split(".")
    found = glob.glob(os.path.join(args.target, "warehouse", ns, name, "metadata", "*.metadata.json"))
    if not found:
        sys.exit(f"no metadata files for {args.table} under {args.target}")
    newest = max(found, key=lambda p: int(os.path.basename(p).split("-")[0]))
    return StaticTable.from_metadata(newest)


def create(args):
    """Creates an empty table as another writer would (pyiceberg, field ids from 1)."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.schema import Schema
    from pyiceberg.types import DoubleType, FloatType, IntegerType, LongType, NestedField, StringType

    kinds = {"long": LongType(), "int": IntegerType(), "float": FloatType(), "double": DoubleType(), "string": StringType()}
    fields = [
        NestedField(i + 1, name, kinds[kind], required=False)
        for i, (name, kind) in enumerate(c.split(":") for c in args.create.split(","))
    ]
    if args.cmd == "rest":
        cat = RestCatalog("rest", uri=args.target, warehouse="lake", token=args.token)
    else:
        # The catalog file must exist already, made by iceberg-rust: pyiceberg's tables lack
        # the `iceberg_type` column iceberg-rust reads, while iceberg-rust accepts the NULL
        # pyiceberg leaves in it.
        from pyiceberg.catalog.sql import SqlCatalog

        db = os.path.join(args.target, "catalog.db")
        if not os.path.exists(db):
            sys.exit(f"{db} does not exist: let weir make the catalog first")
        warehouse = "file://" + os.path.join(os.path.abspath(args.target), "warehouse")
        cat = SqlCatalog("weir", uri=f"sqlite:///{db}", warehouse=warehouse)
    ns = args.table.split(".")[0]
    if (ns,) not in cat.list_namespaces():
        cat.create_namespace(ns)
    t = cat.create_table(args.table, Schema(*fields))
    print(json.dumps({"created": args.table, "schema": [str(f) for f in t.schema().fields]}))


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    if type(v).__name__ == "Decimal":
        return str(v)
    return v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["rest", "embedded"])
    p.add_argument("target")
    p.add_argument("--table", required=True)
    p.add_argument("--token")
    p.add_argument("--rows", action="store_true")
    p.add_argument("--warehouse", default="lake")
    p.add_argument("--ca", help="rest over https: the CA certificates (PEM) to trust")
    p.add_argument("--prop", action="append", default=[], help="rest: a catalog property KEY=VALUE")
    p.add_argument("--create", help="create the table first, `name:type,...` (long, int, float, double, string)")
    args = p.parse_args()
    if args.create:
        return create(args)
    t = table_of(args)
    data = t.scan().to_arrow()
    out = {"rows": data.num_rows}
    if "id" in data.column_names:
        ids = [i for i in data["id"].to_pylist() if i is not None]
        out["distinct_ids"] = len(set(ids))
        out["duplicate_ids"] = len(ids) - len(set(ids))
        out["min_id"] = min(ids) if ids else None
        out["max_id"] = max(ids) if ids else None
    snap = t.current_snapshot()
    out["summary"] = dict(snap.summary.additional_properties) if snap else {}
    out["snapshots"] = len(t.metadata.snapshots)
    # The newest value of every weir position key in the current snapshot's ancestry.
    positions, by_id = {}, {s.snapshot_id: s for s in t.metadata.snapshots}
    while snap is not None:
        for k, v in snap.summary.additional_properties.items():
            if k.startswith("weir.") and k not in positions:
                positions[k] = int(v)
        snap = by_id.get(snap.parent_snapshot_id)
    out["positions"] = positions
    schema = t.schema()
    out["schema"] = [f"{f.field_id}: {f.name} {f.field_type}" for f in schema.fields]
    out["spec"] = [
        f"{f.name}: {f.transform}({schema.find_field(f.source_id).name})" for f in t.spec().fields
    ]
    files = t.inspect.files()
    out["files"] = files.num_rows
    out["file_dirs"] = sorted({p.rsplit("/", 2)[0] for p in files["file_path"].to_pylist()})
    if "partition" in files.column_names:
        out["partitions"] = sorted({json.dumps(plain(x), sort_keys=True) for x in files["partition"].to_pylist()})
    if args.rows:
        rows = [plain(r) for r in data.to_pylist()]
        if "id" in data.column_names:
            rows.sort(key=lambda r: (r["id"] is None, r["id"]))
        out["data"] = rows
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
