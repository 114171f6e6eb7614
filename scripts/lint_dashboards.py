#!/usr/bin/env python3
"""Checks the Grafana dashboards (grafana/dashboards/*.json), their provisioning and the alert
rules (prometheus/alerts.yml) as strictly as possible without Grafana or Prometheus running.

    python3 scripts/lint_dashboards.py               # lint, then prove every rule can fail
    python3 scripts/lint_dashboards.py --exprs       # every dashboard PromQL expression, raw
    python3 scripts/lint_dashboards.py --alert-exprs # every alert expr and its left-hand side
    python3 scripts/lint_dashboards.py --self-test   # only the broken-copy self-test

Dashboards: valid JSON, unique uid and title, schemaVersion; every panel has a unique id, an
allowed type, a title, a description, a gridPos inside 24 columns that overlaps no other
panel, the provisioned Prometheus datasource uid, a unit, thresholds, and targets with a refId
and an expression. Every expression uses only metrics and labels of docs/metrics.md (plus
`up`), each selector names its scrape job and filters `instance` with the variable of that
job, rate() windows are `$__rate_interval`, histogram buckets are aggregated by `le` inside
histogram_quantile(), legends name labels the expression keeps, and every `$variable` is
defined (and every variable used). Provisioning: the datasource has that uid, the dashboard
provider's path is where docker-compose.yml mounts grafana/dashboards. Alerts: the same metric
checks, `for`, a severity, summary/description/runbook_url whose anchor is a heading of
docs/runbook.md, the `<left-hand side> <comparison> <number>` convention, and a firing and a
quiet promtool test case each in prometheus/alerts.test.yml.

Every problem is printed and the exit status is 1. When there is none, copies of the files are
broken in memory once per rule and the run fails if any rule stays silent."""

import argparse
import copy
import json
import pathlib
import re
import signal
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
CATALOGUE = ROOT / "docs" / "metrics.md"
ALERTS = ROOT / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "prometheus" / "alerts.test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
COMPOSE = ROOT / "docker-compose.yml"

RUNBOOK_URL = "https://github.com/orderflow/orderflow/blob/main/docs/runbook.md#"
PANEL_TYPES = {"timeseries", "stat", "table"}
SEVERITIES = {"page", "ticket"}
JOBS = {"orderflow-api": "api", "orderflow-worker": "worker"}
SCRAPE_LABELS = {"job", "instance"}
BUILTIN_VARS = {
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__org", "__user", "__name", "__timeFilter",
}
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}
FUNCTIONS = AGGREGATIONS | {
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp",
    "floor", "histogram_count", "histogram_sum", "histogram_fraction", "histogram_quantile",
    "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "ln",
    "log2", "log10", "minute", "month", "predict_linear", "rate", "resets", "round", "scalar",
    "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time",
}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<dur>\d+(?:ms|[smhdwy])(?![A-Za-z0-9_]))
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){},])
""", re.X)
VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


class PromQLError(Exception):
    pass


# ------------------------------------------------------------------------------ catalogue

def load_catalogue(text):
    """docs/metrics.md → {name: {"type", "labels": {label: values or None}, "jobs"}}."""
    metrics = {"up": {"type": "gauge", "labels": {}, "jobs": set(JOBS)}}
    jobs = set(JOBS)
    for line in text.splitlines():
        if line.startswith("## "):
            if "orderflow-api" in line:
                jobs = {"orderflow-api"}
            elif "orderflow-worker" in line:
                jobs = {"orderflow-worker"}
            else:
                jobs = set(JOBS)
            continue
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        names = re.findall(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", cells[0])
        kind = cells[1].split()[0] if cells[1] else ""
        labels = {}
        for m in re.finditer(r"`(\w+)`(?:\s*\(([^)]*)\))?", cells[2]):
            values = re.findall(r"`([^`]+)`", m.group(2) or "")
            labels[m.group(1)] = set(values) or None
        for name in names:
            metrics[name] = {"type": kind, "labels": labels, "jobs": set(jobs)}
    return metrics


def resolve_metric(name, catalogue):
    """The catalogue entry for a series name (histogram `_bucket`/`_sum`/`_count` included)."""
    if name in catalogue:
        return name, catalogue[name], False
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and catalogue.get(base, {}).get("type") == "histogram":
            return base, catalogue[base], suffix == "_bucket"
    return None, None, False


# ------------------------------------------------------------------------------ PromQL

def tokenize(expr):
    tokens, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise PromQLError(f"cannot read {expr[pos:pos + 20]!r}")
        if m.lastgroup != "ws":
            tokens.append((m.lastgroup, m.group(), m.start()))
        pos = m.end()
    return tokens


def unquote(s):
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def analyse(expr):
    """Selectors, grouping labels, ranges and structural problems of one PromQL expression.

    Returns {"selectors": [{name, matchers: [(label, op, value)], bucket_ok, func}],
             "grouping": set, "ranges": [(func, text)], "problems": [str]}."""
    tokens = tokenize(expr)
    out = {"selectors": [], "grouping": set(), "ranges": [], "problems": []}
    stack = []  # one entry per open "(": (function or None, grouping labels or None, without)
    pending = None  # aggregation name waiting for its "(" after `by (...)`
    pending_group = None
    i = 0

    def read_group(j):
        if j >= len(tokens) or tokens[j][1] != "(":
            raise PromQLError(f"expected ( after {tokens[j - 1][1]}")
        labels, j = [], j + 1
        while j < len(tokens) and tokens[j][1] != ")":
            if tokens[j][0] == "ident":
                labels.append(tokens[j][1])
            elif tokens[j][1] != ",":
                raise PromQLError(f"unexpected {tokens[j][1]!r} in a label list")
            j += 1
        if j >= len(tokens):
            raise PromQLError("unclosed label list")
        return labels, j + 1

    while i < len(tokens):
        kind, text, _ = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind == "ident" and text in GROUPING:
            if text in ("group_left", "group_right") and nxt != "(":
                i += 1
                continue
            labels, i = read_group(i + 1)
            out["grouping"].update(labels)
            if text in ("by", "without") and pending:
                pending_group = (set(labels), text == "without")
            continue
        if kind == "ident" and text.lower() in WORDS:
            i += 1
            continue
        if kind == "ident" and (nxt == "(" or nxt in ("by", "without")):
            if text not in FUNCTIONS:
                out["problems"].append(f"unknown function {text}()")
            pending, pending_group = text, None
            i += 1
            continue
        if text == "(":
            group = pending_group if pending in AGGREGATIONS else None
            stack.append((pending, group))
            pending, pending_group = None, None
            i += 1
            continue
        if text == ")":
            if not stack:
                raise PromQLError("unbalanced )")
            stack.pop()
            i += 1
            continue
        if kind == "range":
            func = stack[-1][0] if stack else None
            out["ranges"].append((func, text))
            i += 1
            continue
        if kind == "ident" or text == "{":
            name = text if kind == "ident" else None
            j = i + 1 if kind == "ident" else i
            matchers = []
            if j < len(tokens) and tokens[j][1] == "{":
                j += 1
                while j < len(tokens) and tokens[j][1] != "}":
                    if tokens[j][1] == ",":
                        j += 1
                        continue
                    try:
                        (lk, label, _), (_, op, _), (vk, value, _) = tokens[j:j + 3]
                    except ValueError:
                        raise PromQLError("unclosed {")
                    if lk != "ident" or op not in ("=", "!=", "=~", "!~") or vk != "str":
                        raise PromQLError(f"bad label matcher near {label!r}")
                    matchers.append((label, op, unquote(value)))
                    j += 3
                if j >= len(tokens):
                    raise PromQLError("unclosed {")
                j += 1
            if name is None:
                out["problems"].append("selector without a metric name")
            else:
                out["selectors"].append({"name": name, "matchers": matchers,
                                         "bucket_ok": bucket_aggregated(stack)})
            i = j
            continue
        i += 1
    if stack:
        raise PromQLError("unbalanced (")
    return out


def bucket_aggregated(stack):
    """True when the innermost histogram_quantile() encloses this point and every
    aggregation in between keeps `le`."""
    for func, group in reversed(stack):
        if func == "histogram_quantile":
            return True
        if func in AGGREGATIONS:
            if group is None:
                return False
            labels, without = group
            if ("le" in labels) == without:
                return False
    return False


def split_comparison(expr):
    """`<lhs> <comparison> <number>` → (lhs, op, number), the comparison at the top level."""
    tokens = tokenize(expr)
    if len(tokens) < 3 or tokens[-1][0] != "num":
        return None
    depth, last = 0, None
    for idx, (kind, text, _) in enumerate(tokens):
        if text in ("(", "{"):
            depth += 1
        elif text in (")", "}"):
            depth -= 1
        elif depth == 0 and text in COMPARISONS:
            last = idx
    if last is None or last != len(tokens) - 2:
        return None
    return expr[: tokens[last][2]].strip(), tokens[last][1], float(tokens[-1][1])


def variables_in(text):
    return {a or b or c for a, b, c in VAR.findall(text)}


def check_expr(expr, catalogue, where, instance_vars=None, legend=None):
    """Metric, label, job and (for dashboards) instance/rate-window/legend problems."""
    problems = []
    try:
        info = analyse(expr)
    except PromQLError as e:
        return [("promql", f"{where}: cannot parse: {e}")]
    problems += [("promql", f"{where}: {p}") for p in info["problems"]]
    known_labels = set(SCRAPE_LABELS)
    for sel in info["selectors"]:
        name = sel["name"]
        base, entry, bucket = resolve_metric(name, catalogue)
        if entry is None:
            problems.append(("metric", f"{where}: {name} is not in docs/metrics.md"))
            continue
        labels = dict(entry["labels"])
        if bucket:
            labels["le"] = None
            if not sel["bucket_ok"]:
                problems.append(("histogram", f"{where}: {name} is not aggregated by le "
                                              "inside histogram_quantile()"))
        known_labels |= set(labels)
        matchers = {}
        for label, op, value in sel["matchers"]:
            matchers.setdefault(label, []).append((op, value))
            if label not in labels and label not in SCRAPE_LABELS:
                problems.append(("label", f"{where}: {name} has no label {label}"))
                continue
            allowed = labels.get(label)
            if allowed and "$" not in value:
                if op in ("=", "!="):
                    ok = value in allowed
                else:
                    try:
                        ok = any(re.fullmatch(value, v) for v in allowed)
                    except re.error:
                        ok = False
                if not ok:
                    problems.append(("label-value", f"{where}: {name}{{{label}{op}\"{value}\"}} "
                                                    f"matches none of {sorted(allowed)}"))
        # Dashboards: exactly one job (the instance variable belongs to it); alerts may also
        # name both with job=~"orderflow-api|orderflow-worker".
        jobs = [[v] for op, v in matchers.get("job", []) if op == "="]
        if instance_vars is None:
            jobs += [v.split("|") for op, v in matchers.get("job", []) if op == "=~"]
        if len(jobs) != 1 or not all(j in JOBS for j in jobs[0]):
            problems.append(("job", f"{where}: {name} is not scoped to its scrape job "
                                    f"(job=\"orderflow-api\" or job=\"orderflow-worker\")"))
            continue
        for j in jobs[0]:
            if j not in entry["jobs"]:
                problems.append(("job", f"{where}: {name} is not exported by {j}"))
        jobs = jobs[0]
        if instance_vars is not None:
            inst = matchers.get("instance", [])
            names = [variables_in(v) for op, v in inst if op == "=~"]
            if len(inst) != 1 or not names or len(names[0]) != 1:
                problems.append(("instance", f"{where}: {name} does not filter "
                                             "instance=~\"$<instance variable>\""))
                continue
            var = next(iter(names[0]))
            if instance_vars.get(var) != jobs[0]:
                problems.append(("instance", f"{where}: {name} of {jobs[0]} is filtered by "
                                             f"${var}, the variable of "
                                             f"{instance_vars.get(var, 'no job')}"))
    for label in sorted(info["grouping"] - known_labels):
        problems.append(("grouping", f"{where}: groups by {label}, which no metric here has"))
    if instance_vars is not None:
        for func, text in info["ranges"]:
            if func in ("rate", "irate") and text != "[$__rate_interval]":
                problems.append(("rate-window", f"{where}: {func}(…{text}) should use "
                                                "[$__rate_interval]"))
        if legend:
            keeps = info["grouping"] if re.search(r"\bby\s*\(", expr) else known_labels
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
                if label not in keeps:
                    problems.append(("legend", f"{where}: legend uses {{{{{label}}}}}, which "
                                               "the expression does not keep"))
    return problems


# ------------------------------------------------------------------------------ dashboards

def ds_uid(ds):
    return ds.get("uid") if isinstance(ds, dict) else None


def overlaps(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def label_values_selector(query):
    m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*", query or "")
    return (m.group(1), m.group(2)) if m else (None, None)


def variable_query(v):
    q = v.get("query")
    return q.get("query") if isinstance(q, dict) else q


def lint_dashboard(name, d, uid, catalogue):
    problems = []
    for key in ("uid", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            problems.append(("dashboard", f"{name}: no {key}"))
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        problems.append(("dashboard", f"{name}: schemaVersion missing or older than 36"))
    variables, instance_vars = {}, {}
    for v in d.get("templating", {}).get("list", []):
        vname = v.get("name")
        where = f"{name} variable {vname}"
        if not vname or vname in variables:
            problems.append(("variable", f"{where}: missing or duplicate name"))
            continue
        variables[vname] = v
        if v.get("type") != "query":
            continue
        if ds_uid(v.get("datasource")) != uid:
            problems.append(("datasource", f"{where}: datasource uid is not {uid!r}"))
        selector, label = label_values_selector(variable_query(v))
        if not selector:
            problems.append(("variable", f"{where}: query is not label_values(<selector>, "
                                         "<label>)"))
            continue
        if not (v.get("multi") is True and v.get("includeAll") is True
                and v.get("allValue") == ".*"):
            problems.append(("variable", f"{where}: needs multi, includeAll and allValue .*"))
        problems += check_expr(selector, catalogue, where)
        jobs = re.findall(r'job="([^"]+)"', selector)
        if label == "instance" and jobs:
            instance_vars[vname] = jobs[0]
    panels = d.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.append(("dashboard", f"{name}: no panels"))
        panels = []
    ids, titles, used = set(), set(), set()
    boxes = []
    for n, p in enumerate(panels):
        where = f"{name} panel {p.get('id', '#' + str(n))} {p.get('title', '')!r}"
        pid = p.get("id")
        if not isinstance(pid, int) or pid in ids:
            problems.append(("panel-id", f"{where}: id missing or not unique"))
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            problems.append(("panel-type", f"{where}: type {p.get('type')!r} not in "
                                           f"{sorted(PANEL_TYPES)}"))
        title = p.get("title")
        if not isinstance(title, str) or not title.strip():
            problems.append(("panel-title", f"{where}: no title"))
        elif title in titles:
            problems.append(("panel-title", f"{where}: title used twice"))
        titles.add(title)
        if not isinstance(p.get("description"), str) or len(p["description"].strip()) < 10:
            problems.append(("description", f"{where}: no description"))
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "xywh"):
            problems.append(("gridpos", f"{where}: gridPos needs integer x, y, w, h"))
        elif g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["y"] < 0 or g["x"] + g["w"] > 24:
            problems.append(("gridpos", f"{where}: gridPos {g} outside the 24 columns"))
        else:
            for other, box in boxes:
                if overlaps(g, box):
                    problems.append(("overlap", f"{where}: overlaps panel {other}"))
            boxes.append((pid, g))
        if ds_uid(p.get("datasource")) != uid:
            problems.append(("datasource", f"{where}: datasource uid is not {uid!r}"))
        defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
        if not isinstance(defaults.get("unit"), str) or not defaults["unit"]:
            problems.append(("unit", f"{where}: no fieldConfig.defaults.unit"))
        problems += lint_thresholds(where, defaults.get("thresholds"))
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(("targets", f"{where}: no targets"))
            targets = []
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not isinstance(ref, str) or not ref or ref in refs:
                problems.append(("refid", f"{where}: refId missing or not unique"))
            refs.add(ref)
            if "datasource" in t and ds_uid(t["datasource"]) != uid:
                problems.append(("datasource", f"{where} {ref}: datasource uid is not {uid!r}"))
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(("expr", f"{where} {ref}: empty expr"))
                continue
            used |= variables_in(expr)
            problems += check_expr(expr, catalogue, f"{where} {ref}", instance_vars,
                                   t.get("legendFormat"))
    for var in sorted(used - set(variables) - BUILTIN_VARS):
        problems.append(("undefined-variable", f"{name}: ${var} is used but not defined"))
    for var in sorted(set(variables) - used):
        problems.append(("unused-variable", f"{name}: variable {var} is used by no panel"))
    return problems


def lint_thresholds(where, th):
    if not isinstance(th, dict) or th.get("mode") not in ("absolute", "percentage"):
        return [("thresholds", f"{where}: no thresholds (mode absolute/percentage + steps)")]
    steps = th.get("steps")
    if not isinstance(steps, list) or not steps or steps[0].get("value") is not None:
        return [("thresholds", f"{where}: thresholds need steps starting with value null")]
    values = [s.get("value") for s in steps[1:]]
    if not all(isinstance(v, (int, float)) for v in values) or values != sorted(set(values)):
        return [("thresholds", f"{where}: threshold values must be numbers, ascending")]
    if not all(isinstance(s.get("color"), str) and s["color"] for s in steps):
        return [("thresholds", f"{where}: every threshold step needs a color")]
    return []


# ------------------------------------------------------------------------------ provisioning

def lint_provisioning(state):
    problems, uids = [], []
    for ds in state["datasources"]:
        if ds.get("type") == "prometheus":
            if not ds.get("uid"):
                problems.append(("provisioning", f"datasource {ds.get('name')}: no fixed uid"))
            else:
                uids.append(ds["uid"])
    if len(uids) != 1:
        problems.append(("provisioning", "need exactly one provisioned Prometheus datasource "
                                         "with a uid"))
    grafana = (state["compose"].get("services") or {}).get("grafana") or {}
    mounts = {}
    for vol in grafana.get("volumes", []):
        parts = vol.split(":") if isinstance(vol, str) else [vol.get("source"), vol.get("target")]
        if len(parts) >= 2:
            mounts[parts[1].rstrip("/")] = (ROOT / parts[0]).resolve()
    if mounts.get("/etc/grafana/provisioning") != PROVISIONING.resolve():
        problems.append(("provisioning", "docker-compose.yml does not mount grafana/provisioning "
                                         "at /etc/grafana/provisioning"))
    providers = [p for p in state["providers"] if p.get("type", "file") == "file"]
    if not providers:
        problems.append(("provisioning", "no file dashboard provider"))
    for p in providers:
        path = ((p.get("options") or {}).get("path") or "").rstrip("/")
        if mounts.get(path) != DASHBOARDS.resolve():
            problems.append(("provisioning", f"dashboard provider {p.get('name')}: path {path!r} "
                                             "is not where compose mounts grafana/dashboards"))
    return problems, (uids[0] if len(uids) == 1 else None)


# ------------------------------------------------------------------------------ alerts

def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def alert_rules(alerts):
    for group in (alerts or {}).get("groups", []) or []:
        for rule in group.get("rules", []) or []:
            if "alert" in rule:
                yield group.get("name"), rule


def lint_alerts(state, catalogue):
    problems = []
    prose = re.sub(r"^```.*?^```", "", state["runbook"], flags=re.M | re.S)  # not code blocks
    anchors = {slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", prose, re.M)}
    names = set()
    for group, rule in alert_rules(state["alerts"]):
        name = rule["alert"]
        where = f"alert {name}"
        if name in names:
            problems.append(("alert", f"{where}: defined twice"))
        names.add(name)
        expr = rule.get("expr", "")
        if "\n" in expr.strip() or not split_comparison(expr):
            problems.append(("alert-convention", f"{where}: expr is not one line of "
                                                 "<left-hand side> <comparison> <number>"))
        problems += check_expr(expr, catalogue, where)
        if not rule.get("for"):
            problems.append(("alert", f"{where}: no for:"))
        if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
            problems.append(("alert", f"{where}: labels.severity must be one of "
                                      f"{sorted(SEVERITIES)}"))
        ann = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problems.append(("alert", f"{where}: no {key} annotation"))
        url = ann.get("runbook_url", "")
        if not url.startswith(RUNBOOK_URL) or url[len(RUNBOOK_URL):] not in anchors:
            problems.append(("runbook", f"{where}: runbook_url {url!r} is not a heading of "
                                        "docs/runbook.md"))
    fires, quiet = set(), set()
    for test in (state["alert_tests"] or {}).get("tests", []) or []:
        for case in test.get("alert_rule_test", []) or []:
            (fires if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    for name in sorted(names):
        if name not in fires:
            problems.append(("alert-tests", f"alert {name}: no test case where it fires"))
        if name not in quiet:
            problems.append(("alert-tests", f"alert {name}: no test case where it stays quiet"))
    if not names:
        problems.append(("alert", "prometheus/alerts.yml has no alerting rules"))
    return problems


# ------------------------------------------------------------------------------ driver

def load_state():
    def yaml_files(sub):
        out = []
        for path in sorted((PROVISIONING / sub).glob("*.y*ml")):
            out.append(yaml.safe_load(path.read_text()) or {})
        return out

    return {
        "dashboards": {p.name: p.read_text() for p in sorted(DASHBOARDS.glob("*.json"))},
        "datasources": [d for f in yaml_files("datasources") for d in f.get("datasources", [])],
        "providers": [d for f in yaml_files("dashboards") for d in f.get("providers", [])],
        "compose": yaml.safe_load(COMPOSE.read_text()),
        "catalogue": CATALOGUE.read_text(),
        "alerts": yaml.safe_load(ALERTS.read_text()) if ALERTS.exists() else {},
        "alert_tests": yaml.safe_load(ALERT_TESTS.read_text()) if ALERT_TESTS.exists() else {},
        "runbook": RUNBOOK.read_text() if RUNBOOK.exists() else "",
    }


def lint_all(state):
    catalogue = load_catalogue(state["catalogue"])
    problems, uid = lint_provisioning(state)
    if not state["dashboards"]:
        problems.append(("dashboard", "no dashboards in grafana/dashboards"))
    seen = {}
    for name, text in state["dashboards"].items():
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(("json", f"{name}: invalid JSON: {e}"))
            continue
        if not isinstance(d, dict):
            problems.append(("json", f"{name}: not a JSON object"))
            continue
        for key in ("uid", "title"):
            if d.get(key) in seen.get(key, {}):
                problems.append(("unique", f"{name}: {key} {d[key]!r} also in "
                                           f"{seen[key][d[key]]}"))
            seen.setdefault(key, {})[d.get(key)] = name
        problems += lint_dashboard(name, d, uid, catalogue)
    problems += lint_alerts(state, catalogue)
    return problems


def dashboard_exprs(state):
    for name, text in state["dashboards"].items():
        d = json.loads(text)
        for v in d.get("templating", {}).get("list", []):
            selector, _ = label_values_selector(variable_query(v))
            if selector:
                yield {"source": f"{name} variable {v['name']}", "expr": selector}
        for p in d.get("panels", []):
            for t in p.get("targets", []):
                if t.get("expr"):
                    yield {"source": f"{name} panel {p.get('id')} {p.get('title')!r} "
                                     f"{t.get('refId')}", "expr": t["expr"]}


def self_test(state):
    """Each broken copy must be caught by its rule: a lint that cannot fail is worth nothing."""
    first = next(iter(state["dashboards"]))

    def dash(mutate, name=None):
        def apply(s):
            key = name or first
            d = json.loads(s["dashboards"][key])
            mutate(d)
            s["dashboards"][key] = json.dumps(d)
        return apply

    def panel(n, mutate):
        return dash(lambda d: mutate(d["panels"][n]))

    def target(n, mutate):
        return panel(n, lambda p: mutate(p["targets"][0]))

    def expr(n, old, new):
        def change(t):
            if old not in t["expr"]:
                raise AssertionError(f"self-test: {old!r} not in panel {n}'s expr")
            t["expr"] = t["expr"].replace(old, new, 1)
        return target(n, change)

    def rule(mutate):
        def apply(s):
            mutate(next(r for _, r in alert_rules(s["alerts"])))
        return apply

    def find_panel(pred):
        d = json.loads(state["dashboards"][first])
        return next(i for i, p in enumerate(d["panels"]) if pred(p))

    rate_p = find_panel(lambda p: "[$__rate_interval]" in p["targets"][0]["expr"]
                        and "by (" in p["targets"][0]["expr"]
                        and "{{" in p["targets"][0].get("legendFormat", ""))
    hist_p = find_panel(lambda p: "histogram_quantile" in p["targets"][0]["expr"])
    value_p = find_panel(lambda p: re.search(r'(outcome|state)=~?"', p["targets"][0]["expr"]))
    first_job = json.loads(state["dashboards"][first])["panels"][rate_p]["targets"][0]["expr"]
    job = re.search(r'job="([^"]+)"', first_job).group(1)
    other = next(j for j in JOBS if j != job)

    def add_var(d):
        d["templating"]["list"].append(copy.deepcopy(d["templating"]["list"][0]))
        d["templating"]["list"][-1]["name"] = "nobody_uses_me"

    cases = {
        "json": lambda s: s["dashboards"].update({first: s["dashboards"][first][:-3]}),
        "unique": lambda s: s["dashboards"].update({"copy.json": s["dashboards"][first]}),
        "dashboard": dash(lambda d: d.pop("schemaVersion")),
        "panel-id": panel(1, lambda p: p.update({"id": 1})),
        "panel-type": panel(0, lambda p: p.update({"type": "graph"})),
        "panel-title": panel(0, lambda p: p.update({"title": ""})),
        "description": panel(0, lambda p: p.pop("description")),
        "gridpos": panel(0, lambda p: p["gridPos"].update({"x": 20, "w": 8})),
        "overlap": dash(lambda d: d["panels"][1].update({"gridPos": dict(d["panels"][0]["gridPos"])})),
        "datasource": panel(0, lambda p: p.update({"datasource": {"type": "prometheus",
                                                                  "uid": "other"}})),
        "unit": panel(0, lambda p: p["fieldConfig"]["defaults"].pop("unit")),
        "thresholds": panel(0, lambda p: p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                            .append({"color": "red", "value": -1})),
        "targets": panel(0, lambda p: p.update({"targets": []})),
        "expr": target(0, lambda t: t.update({"expr": " "})),
        "refid": panel(0, lambda p: p["targets"].append(dict(p["targets"][0]))),
        "undefined-variable": expr(rate_p, "[$__rate_interval]", "[$window]"),
        "unused-variable": dash(add_var),
        "variable": dash(lambda d: d["templating"]["list"][0].update({"includeAll": False})),
        "metric": expr(rate_p, "orderflow_", "orderfl0w_"),
        "label": expr(rate_p, "instance=~", "instanse=~"),
        "label-value": target(value_p, lambda t: t.update({"expr": re.sub(
            r'(outcome|state)=~?"[^"]*"', r'\1="nonsense"', t["expr"], count=1)})),
        "job": expr(rate_p, f'job="{job}"', f'job="{other}"'),
        "instance": expr(rate_p, ', instance=~"$', ', instance!~"$'),
        "rate-window": expr(rate_p, "[$__rate_interval]", "[5m]"),
        "grouping": expr(rate_p, "by (", "by (nolabel, "),
        "legend": target(rate_p, lambda t: t.update({"legendFormat": "{{nolabel}}"})),
        "histogram": expr(hist_p, "by (le", "by (job"),
        "promql": target(rate_p, lambda t: t.update({"expr": t["expr"] + ")"})),
        "provisioning": lambda s: s["providers"][0]["options"].update({"path": "/tmp"}),
        "runbook": rule(lambda r: r["annotations"].update({"runbook_url": RUNBOOK_URL + "nope"})),
        "alert": rule(lambda r: r.pop("for")),
        "alert-convention": rule(lambda r: r.update({"expr": r["expr"] + " > bool 1"})),
        "alert-tests": lambda s: s["alert_tests"].update({"tests": []}),
    }
    failed = []
    for name, mutate in cases.items():
        broken = copy.deepcopy(state)
        try:
            mutate(broken)
        except Exception as e:  # noqa: BLE001 - the fixture itself changed
            print(f"self-test: cannot break '{name}': {e!r}")
            failed.append(name)
            continue
        rules = {r for r, _ in lint_all(broken)}
        if name not in rules:
            print(f"self-test: breaking '{name}' went unnoticed (got {sorted(rules)})")
            failed.append(name)
    return failed, len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--exprs", action="store_true",
                      help="print every dashboard expression as JSON lines {source, expr}")
    mode.add_argument("--alert-exprs", action="store_true",
                      help="print every alert as JSON lines {source, expr, lhs}")
    mode.add_argument("--self-test", action="store_true", help="only the broken-copy self-test")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `--exprs | head` ends quietly
    state = load_state()
    if args.exprs:
        for item in dashboard_exprs(state):
            print(json.dumps(item, ensure_ascii=False))
        return
    if args.alert_exprs:
        for _, rule in alert_rules(state["alerts"]):
            split = split_comparison(rule["expr"])
            print(json.dumps({"source": f"alerts.yml {rule['alert']}", "expr": rule["expr"],
                              "lhs": split[0] if split else None}, ensure_ascii=False))
        return
    problems = [] if args.self_test else lint_all(state)
    for _, message in problems:
        print(f"lint: {message}")
    if problems:
        sys.exit(1)
    failed, n = self_test(state)
    if failed:
        sys.exit(1)
    panels = sum(len(json.loads(t).get("panels", [])) for t in state["dashboards"].values())
    alerts = sum(1 for _ in alert_rules(state["alerts"]))
    print(f"lint: {len(state['dashboards'])} dashboards ({panels} panels), provisioning and "
          f"{alerts} alerts are clean; all {n} rules fired on their broken copies")


if __name__ == "__main__":
    main()
