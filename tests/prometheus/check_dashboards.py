#!/usr/bin/env python3
"""Checks the Grafana dashboards without Grafana (none is installable here).

  check_dashboards.py structure DIR
      Provisioning-ready structure: fixed unique uids, no `__inputs` or
      `${DS_…}`, a `datasource` template variable (type datasource, query
      prometheus) used by every panel and target, unique panel ids, every
      panel inside the 24-column grid without overlapping another.

  check_dashboards.py queries DIR --prometheus URL [--var NAME=VALUE …]
      Every `expr` of every panel of every dashboard, with template variables
      resolved through their own queries and `$__rate_interval`/`$__interval`
      substituted, returns data (at least one non-NaN sample) through
      Prometheus' HTTP API: range targets over the last --window seconds,
      instant targets now.

  check_dashboards.py alert --prometheus URL --alert NAME --fires LABEL=VALUE
                            [--silent LABEL=VALUE …] [--timeout S]
      Waits until the alert is firing for the `--fires` series, then checks
      that it never was pending or firing for any `--silent` one (whose
      series must exist, so that silence means something).

Standard library only. Exit status 1 with one line per problem.
"""

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

DATASOURCE_REFS = {"${datasource}", "$datasource"}


def load(directory):
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        sys.exit(f"no dashboards in {directory}")
    return [(f.name, json.loads(f.read_text())) for f in files]


def panels_of(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


# ------------------------------------------------------------------ structure
def check_structure(dashboards):
    problems = []
    uids = {}
    for name, d in dashboards:
        where = name
        text = json.dumps(d)
        if "__inputs" in d or "__requires" in d:
            problems.append(f"{where}: exported with __inputs/__requires (not provisioning-ready)")
        if "${DS_" in text:
            problems.append(f"{where}: refers to an import-time ${{DS_…}} input")
        uid = d.get("uid")
        if not uid or not isinstance(uid, str) or len(uid) > 40:
            problems.append(f"{where}: needs a fixed uid of at most 40 characters, has {uid!r}")
        elif uid in uids:
            problems.append(f"{where}: uid {uid} also used by {uids[uid]}")
        else:
            uids[uid] = name
        if d.get("id") not in (None,):
            problems.append(f"{where}: a provisioned dashboard must have id null, has {d.get('id')!r}")
        if not d.get("title"):
            problems.append(f"{where}: no title")
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
            problems.append(f"{where}: schemaVersion {d.get('schemaVersion')!r}, want 39 or later")
        variables = d.get("templating", {}).get("list", [])
        ds_vars = [v for v in variables if v.get("name") == "datasource"]
        if len(ds_vars) != 1 or ds_vars[0].get("type") != "datasource" or ds_vars[0].get("query") != "prometheus":
            problems.append(f"{where}: needs one template variable `datasource` of type datasource, query prometheus")
        for v in variables:
            if v.get("type") == "query" and v.get("datasource", {}).get("uid") not in DATASOURCE_REFS:
                problems.append(f"{where}: variable {v.get('name')} does not query ${{datasource}}")

        ids = {}
        boxes = []
        for panel in panels_of(d):
            pid = panel.get("id")
            title = panel.get("title", "?")
            here = f"{where}: panel {pid} ({title})"
            if not isinstance(pid, int):
                problems.append(f"{here}: id must be an integer")
            elif pid in ids:
                problems.append(f"{here}: id {pid} also used by {ids[pid]!r}")
            else:
                ids[pid] = title
            if not panel.get("title"):
                problems.append(f"{here}: no title")
            g = panel.get("gridPos", {})
            x, y, w, h = (g.get(k) for k in ("x", "y", "w", "h"))
            if not all(isinstance(v, int) for v in (x, y, w, h)) or x < 0 or y < 0 or w < 1 or h < 1:
                problems.append(f"{here}: gridPos {g} is not four non-negative integers with w, h >= 1")
                continue
            if x + w > 24:
                problems.append(f"{here}: gridPos x {x} + w {w} goes beyond the 24 columns")
            for other_title, (ox, oy, ow, oh) in boxes:
                if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                    problems.append(f"{here}: overlaps panel {other_title!r}")
            boxes.append((title, (x, y, w, h)))
            if panel.get("type") == "row":
                continue
            if panel.get("datasource", {}).get("uid") not in DATASOURCE_REFS:
                problems.append(f"{here}: datasource is not ${{datasource}}")
            targets = panel.get("targets", [])
            if not targets:
                problems.append(f"{here}: no query")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                problems.append(f"{here}: duplicate refIds {refs}")
            for t in targets:
                if not t.get("expr", "").strip():
                    problems.append(f"{here}: target {t.get('refId')} has no expr")
                if t.get("datasource", {}).get("uid") not in DATASOURCE_REFS:
                    problems.append(f"{here}: target {t.get('refId')} datasource is not ${{datasource}}")
    return problems


# ---------------------------------------------------------------- prometheus
class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def instant(self, expr):
        return self.get("/api/v1/query", query=expr)["result"]

    def range(self, expr, seconds):
        end = time.time()
        return self.get("/api/v1/query_range", query=expr, start=end - seconds, end=end, step=1)["result"]


def has_data(result):
    for series in result:
        values = series.get("values") or ([series["value"]] if "value" in series else [])
        if any(not math.isnan(float(v[1])) for v in values):
            return True
    return False


def substitute(expr, variables, rate_interval, interval, window):
    expr = expr.replace("$__rate_interval", rate_interval).replace("${__rate_interval}", rate_interval)
    expr = expr.replace("$__interval", interval).replace("${__interval}", interval)
    expr = expr.replace("$__range", f"{window}s").replace("${__range}", f"{window}s")
    for name, value in variables.items():
        expr = re.sub(r"\$\{" + re.escape(name) + r"(:[^}]*)?\}", lambda _: value, expr)
        expr = re.sub(r"\[\[" + re.escape(name) + r"\]\]", lambda _: value, expr)
        expr = re.sub(r"\$" + re.escape(name) + r"\b", lambda _: value, expr)
    return expr


def variable_values(prom, variable, known):
    """The values a query variable offers (text/value pairs resolved as Grafana does)."""
    definition = variable.get("definition") or variable.get("query", {}).get("query", "")
    definition = substitute(definition, known, "1m", "15s", 60)
    if m := re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", definition):
        values = prom.get("/api/v1/label/" + m.group(2) + "/values", **{"match[]": m.group(1)})
        lines = list(values)
    elif m := re.fullmatch(r"\s*label_values\((\w+)\)\s*", definition):
        lines = list(prom.get("/api/v1/label/" + m.group(1) + "/values"))
    elif m := re.fullmatch(r"\s*query_result\((.+)\)\s*", definition, re.S):
        lines = []
        for s in prom.instant(m.group(1)):
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s["metric"].items()))
            lines.append(f"{s['metric'].get('__name__', '')}{{{labels}}} {s['value'][1]} {s['value'][0]}")
    else:
        raise RuntimeError(f"variable {variable.get('name')}: unsupported query {definition!r}")
    regex = variable.get("regex") or ""
    if regex:
        pattern = re.compile(regex.strip("/").replace("(?<", "(?P<"))
        values = []
        for line in lines:
            if m := pattern.search(line):
                groups = m.groupdict()
                values.append(groups.get("value") or m.group(1) if m.groups() else m.group(0))
        return values
    return lines


def check_queries(dashboards, prom, given, rate_interval, interval, window):
    problems = []
    checked = 0
    for name, d in dashboards:
        variables = {}
        for v in d.get("templating", {}).get("list", []):
            vname = v.get("name")
            if v.get("type") == "datasource":
                continue
            if v.get("type") != "query":
                problems.append(f"{name}: variable {vname} of type {v.get('type')} is not checked")
                continue
            try:
                values = variable_values(prom, v, variables)
            except Exception as e:  # noqa: BLE001 - reported, not raised
                problems.append(f"{name}: variable {vname}: {e}")
                continue
            if not values:
                problems.append(f"{name}: variable {vname} offers no value")
                continue
            if vname in given:
                if given[vname] not in values:
                    problems.append(f"{name}: variable {vname} does not offer {given[vname]} (offers {values[:5]})")
                variables[vname] = given[vname]
            elif v.get("includeAll") and v.get("allValue"):
                variables[vname] = v["allValue"]
            else:
                variables[vname] = values[0]
        for panel in panels_of(d):
            for t in panel.get("targets", []):
                expr = substitute(t.get("expr", ""), variables, rate_interval, interval, window)
                if "$" in expr:
                    problems.append(f"{name}: panel {panel.get('title')!r} {t.get('refId')}: unresolved variable in {expr}")
                    continue
                try:
                    result = prom.instant(expr) if t.get("instant") and not t.get("range") else prom.range(expr, window)
                except Exception as e:  # noqa: BLE001 - reported, not raised
                    problems.append(f"{name}: panel {panel.get('title')!r} {t.get('refId')}: {e}")
                    continue
                checked += 1
                if not has_data(result):
                    problems.append(f"{name}: panel {panel.get('title')!r} {t.get('refId')} returns no data: {expr}")
    return problems, checked


# --------------------------------------------------------------------- alerts
def check_alert(prom, alert, fires, silent, timeout, window):
    problems = []
    key, value = fires.split("=", 1)
    firing = f'ALERTS{{alertname="{alert}",alertstate="firing",{key}="{value}"}}'
    deadline = time.time() + timeout
    while not prom.instant(firing):
        if time.time() > deadline:
            return [f"{alert} never fired for {fires} within {timeout} s"]
        time.sleep(1)
    print(f"{alert} fires for {fires}")
    for s in silent:
        key, value = s.split("=", 1)
        if not prom.instant(f'{{{key}="{value}",__name__=~"icu_ward_.*"}}'):
            problems.append(f"{alert}: no ward series for {s}: its silence proves nothing")
        ever = prom.instant(f'max_over_time(ALERTS{{alertname="{alert}",{key}="{value}"}}[{window}s])')
        if ever:
            problems.append(f"{alert} was {ever[0]['metric'].get('alertstate')} for {s}, which should be silent")
        else:
            print(f"{alert} silent for {s}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("structure")
    s.add_argument("directory")
    q = sub.add_parser("queries")
    q.add_argument("directory")
    q.add_argument("--prometheus", required=True)
    q.add_argument("--var", action="append", default=[], help="NAME=VALUE for a template variable")
    q.add_argument("--rate-interval", default="10s")
    q.add_argument("--interval", default="2s")
    q.add_argument("--window", type=int, default=60)
    a = sub.add_parser("alert")
    a.add_argument("--prometheus", required=True)
    a.add_argument("--alert", required=True)
    a.add_argument("--fires", required=True)
    a.add_argument("--silent", action="append", default=[])
    a.add_argument("--timeout", type=int, default=60)
    a.add_argument("--window", type=int, default=300)
    args = parser.parse_args()

    if args.command == "structure":
        dashboards = load(args.directory)
        problems = check_structure(dashboards)
        summary = f"{len(dashboards)} dashboards, {sum(1 for _, d in dashboards for _ in panels_of(d))} panels"
    elif args.command == "queries":
        dashboards = load(args.directory)
        given = dict(v.split("=", 1) for v in args.var)
        problems, checked = check_queries(dashboards, Prometheus(args.prometheus), given, args.rate_interval,
                                          args.interval, args.window)
        summary = f"{checked} panel queries"
    else:
        problems = check_alert(Prometheus(args.prometheus), args.alert, args.fires, args.silent, args.timeout,
                               args.window)
        summary = f"alert {args.alert}"
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(f"{summary}: {'ok' if not problems else f'{len(problems)} problems'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
