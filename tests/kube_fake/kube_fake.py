#!/usr/bin/env python3
"""A small Kubernetes API server for tests.

It keeps objects in memory, speaks the JSON REST dialect of the real API
server (discovery, CRUD, patch, watch, pods/log, garbage collection), runs a
Job and a CronJob controller, and acts as scheduler and kubelet for a single
node whose pods run as podman containers on this host (host network).
"""
import argparse
import base64
import collections
import copy
import datetime
import hmac
import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import zoneinfo

NODE_NAME = "fake-node"
GIT_VERSION = "v1.30.0"
TICK = 0.2
BOOKMARK_EVERY = 5.0
MAX_BODY = 3 * 1024 * 1024


# ----------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.headers = details, headers or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def bad_request(message):
    return ApiError(400, "BadRequest", message)


class Invalid:
    """Collects field errors and raises them as one 422 Invalid Status."""

    REASONS = {"Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid",
               "Unsupported value": "FieldValueNotSupported", "Not found": "FieldValueNotFound",
               "Too long": "FieldValueTooLong", "Duplicate value": "FieldValueDuplicate",
               "Forbidden": "FieldValueForbidden"}

    def __init__(self):
        self.causes = []

    def add(self, field, kind, detail="", value=None, has_value=False):
        msg = kind
        if has_value:
            msg += ": " + json.dumps(value)
        if detail:
            msg += ": " + detail
        self.causes.append({"reason": self.REASONS[kind], "message": msg, "field": field})

    def check(self, res, name):
        if not self.causes:
            return
        parts = [f"{c['field']}: {c['message']}" for c in self.causes]
        text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        title = f"{res.kind}.{res.group}" if res.group else res.kind
        details = {"name": name, "kind": res.kind, "causes": self.causes}
        if res.group:
            details["group"] = res.group
        raise ApiError(422, "Invalid", f'{title} "{name}" is invalid: {text}', details)


# ------------------------------------------------------------ resources

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Resource:
    def __init__(self, group, plural, kind, namespaced=True, short=(), verbs=ALL_VERBS,
                 subresources=(), categories=()):
        self.group, self.plural, self.kind = group, plural, kind
        self.namespaced, self.short, self.verbs = namespaced, list(short), list(verbs)
        self.subresources, self.categories = list(subresources), list(categories)
        self.api_version = f"{group}/v1" if group else "v1"
        self.qualified = f"{plural}.{group}" if group else plural

    def details(self, name):
        d = {"name": name, "kind": self.plural}
        if self.group:
            d["group"] = self.group
        return d

    def not_found(self, name):
        return ApiError(404, "NotFound", f'{self.qualified} "{name}" not found', self.details(name))


NAMESPACES = Resource("", "namespaces", "Namespace", False, ["ns"],
                      [v for v in ALL_VERBS if v != "deletecollection"], ["status"])
PODS = Resource("", "pods", "Pod", True, ["po"], subresources=["log", "status"], categories=["all"])
SECRETS = Resource("", "secrets", "Secret")
CONFIGMAPS = Resource("", "configmaps", "ConfigMap", True, ["cm"])
SERVICEACCOUNTS = Resource("", "serviceaccounts", "ServiceAccount", True, ["sa"])
EVENTS = Resource("", "events", "Event", True, ["ev"])
NODES = Resource("", "nodes", "Node", False, ["no"], ["get", "list", "watch"], ["status"])
JOBS = Resource("batch", "jobs", "Job", True, ["job"], subresources=["status"], categories=["all"])
CRONJOBS = Resource("batch", "cronjobs", "CronJob", True, ["cj"], subresources=["status"],
                    categories=["all"])
RESOURCES = [NAMESPACES, PODS, SECRETS, CONFIGMAPS, SERVICEACCOUNTS, EVENTS, NODES, JOBS, CRONJOBS]
BY_GROUP = {(r.group, r.plural): r for r in RESOURCES}


def resource_list(group):
    out = []
    for r in RESOURCES:
        if r.group != group:
            continue
        entry = {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": r.verbs}
        if r.short:
            entry["shortNames"] = r.short
        if r.categories:
            entry["categories"] = r.categories
        out.append(entry)
        for sub in r.subresources:
            verbs = ["get"] if sub == "log" or r is NODES else ["get", "patch", "update"]
            out.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": verbs})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/v1" if group else "v1", "resources": out}


def openapi_index():
    return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={GIT_VERSION}"}
                      for gv in ("api/v1", "apis/batch/v1")}}


def openapi_v3(group):
    """Just enough OpenAPI v3 for kubectl to see that the server validates fields itself."""
    base = f"/apis/{group}/v1" if group else "/api/v1"
    paths = {}
    for r in RESOURCES:
        if r.group != group:
            continue
        gvk = {"group": group, "version": "v1", "kind": r.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation")]

        def op(action):
            return {"operationId": f"{action}{r.kind}", "x-kubernetes-action": action,
                    "x-kubernetes-group-version-kind": gvk, "parameters": params,
                    "responses": {"200": {"description": "OK"}}}
        item = f"{base}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{base}/{r.plural}/{{name}}"
        writable = "update" in r.verbs
        paths[item] = {"get": op("get")}
        paths[item.rsplit("/", 1)[0]] = {"get": op("list")}
        if writable:
            paths[item].update(put=op("put"), patch=op("patch"), delete=op("delete"))
            paths[item.rsplit("/", 1)[0]]["post"] = op("post")
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": paths,
            "components": {"schemas": {}}}


def _pb(num, *parts):
    """One length-delimited protobuf field."""
    payload = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    out, n = bytearray(), len(payload)
    for v in ((num << 3) | 2, n):
        while True:
            out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                break
    return bytes(out) + payload


def openapi_v2_protobuf():
    """The gnostic OpenAPI v2 document, in protobuf, listing the PATCH operations and
    their fieldValidation parameter: what kubectl looks for before it lets the server validate."""
    paths = []
    for r in RESOURCES:
        if "patch" not in r.verbs:
            continue
        base = f"/apis/{r.group}/v1" if r.group else "/api/v1"
        item = f"{base}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{base}/{r.plural}/{{name}}"
        params = b"".join(_pb(8, _pb(1, _pb(2, _pb(3, _pb(2, "query"), _pb(4, name), _pb(6, "string")))))
                          for name in ("dryRun", "fieldManager", "fieldValidation"))
        gvk = _pb(13, _pb(1, "x-kubernetes-group-version-kind"),
                  _pb(2, _pb(2, f"group: \"{r.group}\"\nkind: {r.kind}\nversion: v1\n")))
        paths.append(_pb(2, _pb(1, item), _pb(2, _pb(8, _pb(5, f"patch{r.kind}"), params, gvk))))
    return _pb(1, "2.0") + _pb(2, _pb(1, "Kubernetes"), _pb(2, GIT_VERSION)) + _pb(8, *paths)


# -------------------------------------------------------------- helpers

class Clock:
    """Real time plus an offset that tests may set."""

    def __init__(self):
        self.offset = 0.0

    def now(self):
        return time.time() + self.offset

    def set(self, t):
        self.offset = t - time.time()


def fmt_time(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    d = datetime.datetime.fromisoformat(s.strip().replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def rand_suffix(n=5):
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


_QRE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_QSUFFIX = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40,
            "Pi": 2 ** 50, "Ei": 2 ** 60}


def parse_quantity(v):
    if isinstance(v, bool):
        raise ValueError("not a quantity")
    if isinstance(v, (int, float)):
        return float(v)
    m = _QRE.match(str(v).strip())
    if not m:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    n = float(m.group(1)) * (10 ** int(m.group(2)) if m.group(2) else 1)
    return n * _QSUFFIX[m.group(3) or ""]


def dig(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict):
            obj = obj.get(p)
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
        if obj is None:
            return default
    return obj


def human_age(seconds):
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    m, h, d = s // 60, s // 3600, s // 86400
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 730 else f"{d // 365}y"


# ------------------------------------------------------------- selectors

_LKEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_LVAL = r"[-A-Za-z0-9_.]*"


def _split_terms(text):
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


class LabelSelector:
    def __init__(self, text):
        self.reqs = []
        for term in _split_terms(text or ""):
            m = re.fullmatch(rf"!\s*({_LKEY})", term)
            if m:
                self.reqs.append((m.group(1), "!", None))
                continue
            m = re.fullmatch(rf"({_LKEY})\s+(in|notin)\s*\(([^()]*)\)", term)
            if m:
                vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
                self.reqs.append((m.group(1), m.group(2), vals))
                continue
            m = re.fullmatch(rf"({_LKEY})\s*(==|=|!=|>|<)\s*({_LVAL})", term)
            if m:
                self.reqs.append((m.group(1), m.group(2), m.group(3)))
                continue
            m = re.fullmatch(_LKEY, term)
            if m:
                self.reqs.append((term, "exists", None))
                continue
            raise bad_request(f"unable to parse requirement: found '{term}', expected: "
                              "identifier, '=', '!=', 'in', 'notin' or '!'")

    def matches(self, labels):
        labels = labels or {}
        for key, op, val in self.reqs:
            have = labels.get(key)
            if op in ("=", "=="):
                ok = have == val
            elif op == "!=":
                ok = have != val
            elif op == "in":
                ok = have in val
            elif op == "notin":
                ok = have not in val
            elif op == "exists":
                ok = key in labels
            elif op == "!":
                ok = key not in labels
            else:
                try:
                    ok = (int(have) > int(val)) if op == ">" else (int(have) < int(val))
                except (TypeError, ValueError):
                    ok = False
            if not ok:
                return False
        return True


FIELD_LABELS = {
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"},
    "secrets": {"type"}, "jobs": {"status.successful"}, "namespaces": {"status.phase"},
    "nodes": {"spec.unschedulable"},
}


class FieldSelector:
    def __init__(self, text, plural):
        self.reqs = []
        for term in _split_terms(text or ""):
            m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
            if not m:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
            field = m.group(1).strip()
            if field not in ("metadata.name", "metadata.namespace") and \
                    field not in FIELD_LABELS.get(plural, ()):
                raise bad_request(f'field label not supported: {field}')
            self.reqs.append((field.split("."), m.group(2) != "!=", m.group(3).strip()))

    def matches(self, obj):
        for path, equal, want in self.reqs:
            v = dig(obj, *path)
            if path == ["source"]:
                v = dig(obj, "source", "component")
            v = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
            if (v == want) != equal:
                return False
        return True


# ---------------------------------------------------------------- patches

def merge_patch(target, patch, strategic=False):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if strategic and k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            if strategic and v.get("$patch") == "delete":
                result.pop(k, None)
            elif strategic and v.get("$patch") == "replace":
                result[k] = {a: b for a, b in v.items() if not a.startswith("$")}
            else:
                result[k] = merge_patch(result.get(k), v, strategic)
        elif strategic and isinstance(v, list) and _named_list(v) and _named_list(result.get(k)):
            result[k] = _merge_named(result[k], v)
        else:
            result[k] = copy.deepcopy(v)
    return result


def _named_list(v):
    return isinstance(v, list) and v and all(isinstance(e, dict) and "name" in e for e in v)


def _merge_named(old, new):
    out = [copy.deepcopy(e) for e in old]
    for item in new:
        idx = next((i for i, e in enumerate(out) if e.get("name") == item["name"]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(merge_patch({}, item, True))
        else:
            out[idx] = merge_patch(out[idx], item, True)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'invalid JSON pointer "{path}"')
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _jp_fail(op, path, why):
    return ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: {why}: {path}")


def _jp_get(doc, tokens, op, path):
    for t in tokens:
        if isinstance(doc, dict) and t in doc:
            doc = doc[t]
        elif isinstance(doc, list) and t.isdigit() and int(t) < len(doc):
            doc = doc[int(t)]
        else:
            raise _jp_fail(op, path, "doc is missing path")
    return doc


def _jp_put(doc, tokens, value, op, path, insert):
    if not tokens:
        return value
    parent = _jp_get(doc, tokens[:-1], op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if not insert and last not in parent:
            raise _jp_fail(op, path, "doc is missing key")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and insert:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (0 if insert else 1):
            if insert:
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            raise _jp_fail(op, path, "index out of range")
    else:
        raise _jp_fail(op, path, "doc is missing path")
    return doc


def _jp_remove(doc, tokens, op, path):
    if not tokens:
        raise _jp_fail(op, path, "cannot remove the root")
    parent = _jp_get(doc, tokens[:-1], op, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _jp_fail(op, path, "doc is missing key")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for o in ops:
        if not isinstance(o, dict) or "op" not in o or "path" not in o:
            raise bad_request("json patch operation must have op and path")
        op, path = o["op"], o["path"]
        tokens = _pointer(path)
        if op in ("add", "replace", "test") and "value" not in o:
            raise bad_request(f"json patch {op} operation needs a value")
        if op == "add":
            doc = _jp_put(doc, tokens, copy.deepcopy(o["value"]), op, path, True)
        elif op == "replace":
            doc = _jp_put(doc, tokens, copy.deepcopy(o["value"]), op, path, False)
        elif op == "remove":
            _jp_remove(doc, tokens, op, path)
        elif op == "test":
            if _jp_get(doc, tokens, op, path) != o["value"]:
                raise ApiError(422, "Invalid", f"testing value {path} failed")
        elif op in ("move", "copy"):
            src = _pointer(o.get("from", ""))
            value = copy.deepcopy(_jp_get(doc, src, op, o.get("from", "")))
            if op == "move":
                _jp_remove(doc, src, op, o.get("from", ""))
            doc = _jp_put(doc, tokens, value, op, path, True)
        else:
            raise bad_request(f'unexpected json patch operation "{op}"')
    return doc


# ---------------------------------------------------------- field schema

class Schema:
    """Unknown-field detection against the OpenAPI v2 definitions."""

    ROOTS = {"Pod": "io.k8s.api.core.v1.Pod", "Job": "io.k8s.api.batch.v1.Job",
             "CronJob": "io.k8s.api.batch.v1.CronJob", "Secret": "io.k8s.api.core.v1.Secret",
             "ConfigMap": "io.k8s.api.core.v1.ConfigMap", "Namespace": "io.k8s.api.core.v1.Namespace",
             "ServiceAccount": "io.k8s.api.core.v1.ServiceAccount", "Event": "io.k8s.api.core.v1.Event"}

    def __init__(self, path):
        with open(path) as f:
            self.defs = json.load(f).get("definitions", {})

    def unknown_fields(self, kind, obj):
        out = []
        if kind in self.ROOTS and self.ROOTS[kind] in self.defs:
            self._walk({"$ref": "#/definitions/" + self.ROOTS[kind]}, obj, "", out)
        return out

    def _walk(self, schema, value, path, out):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        if isinstance(value, dict):
            props, extra = schema.get("properties"), schema.get("additionalProperties")
            for k, v in value.items():
                sub = f"{path}.{k}" if path else k
                if props is not None and k in props:
                    self._walk(props[k], v, sub, out)
                elif isinstance(extra, dict):
                    self._walk(extra, v, sub, out)
                elif props is not None and not extra:
                    out.append(sub)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                self._walk(schema["items"], v, f"{path}[{i}]", out)


# ------------------------------------------------------------------ cron

class Cron:
    MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
              "@hourly": "0 * * * *"}
    MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
    DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}

    def __init__(self, text):
        text = self.MACROS.get(text.strip().lower(), text)
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {text}")
        self.minutes = self._field(fields[0], 0, 59, {})
        self.hours = self._field(fields[1], 0, 23, {})
        self.doms = self._field(fields[2], 1, 31, {})
        self.months = self._field(fields[3], 1, 12, self.MONTHS)
        self.dows = {d % 7 for d in self._field(fields[4], 0, 7, self.DAYS)}
        self.dom_any = fields[2].startswith(("*", "?"))
        self.dow_any = fields[4].startswith(("*", "?"))

    @staticmethod
    def _field(text, lo, hi, names):
        def num(s):
            s = s.lower()
            if s in names:
                return names[s]
            if not s.isdigit():
                raise ValueError(f"failed to parse int from {s}")
            v = int(s)
            if not lo <= v <= hi:
                raise ValueError(f"value {v} out of range [{lo}, {hi}]")
            return v
        out = set()
        for part in text.split(","):
            rng, _, step = part.partition("/")
            step = int(step) if step.isdigit() and int(step) > 0 else (None if not step else -1)
            if step == -1:
                raise ValueError(f"bad step in {part}")
            if rng in ("*", "?"):
                a, b = lo, hi
            elif "-" in rng:
                a, b = (num(x) for x in rng.split("-", 1))
            else:
                a = num(rng)
                b = hi if step else a
            if a > b:
                raise ValueError(f"beginning of range ({a}) beyond end of range ({b}): {part}")
            out.update(range(a, b + 1, step or 1))
        return out

    def _day_ok(self, d):
        dow = d.isoweekday() % 7
        if d.month not in self.months:
            return False
        if self.dom_any or self.dow_any:
            return d.day in self.doms and dow in self.dows
        return d.day in self.doms or dow in self.dows

    def latest(self, now_local):
        """The last scheduled minute at or before now_local (a naive local datetime)."""
        day = now_local.date()
        for i in range(0, 1500):
            d = day - datetime.timedelta(days=i)
            if not self._day_ok(d):
                continue
            for h in sorted(self.hours, reverse=True):
                if i == 0 and h > now_local.hour:
                    continue
                for m in sorted(self.minutes, reverse=True):
                    if i == 0 and h == now_local.hour and m > now_local.minute:
                        continue
                    return datetime.datetime(d.year, d.month, d.day, h, m)
        return None


# ------------------------------------------------------------------ store

class Store:
    """Objects by resource; every change gets the next resourceVersion and is
    kept in a bounded history that watches read from."""

    def __init__(self, history_size):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objects = {r.plural: {} for r in RESOURCES}
        self.uids = {}
        self.rv = 0
        self.history = collections.deque()
        self.history_size = history_size
        self.floor = 0
        self.drop_epoch = 0
        self.expire_epoch = 0

    def _record(self, etype, plural, obj, old):
        self.history.append((self.rv, etype, plural, obj, old))
        while len(self.history) > self.history_size:
            self.floor = self.history.popleft()[0]
        self.cond.notify_all()

    @staticmethod
    def key(obj):
        m = obj["metadata"]
        return m.get("namespace", ""), m["name"]

    def get(self, res, ns, name):
        return self.objects[res.plural].get((ns or "", name))

    def by_uid(self, uid):
        k = self.uids.get(uid)
        return self.objects[k[0]].get(k[1]) if k else None

    def items(self, res, ns=None):
        objs = self.objects[res.plural]
        keys = sorted(k for k in objs if ns is None or k[0] == ns)
        return [objs[k] for k in keys]

    def add(self, res, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[res.plural][self.key(obj)] = obj
        self.uids[obj["metadata"]["uid"]] = (res.plural, self.key(obj))
        self._record("ADDED", res.plural, obj, None)

    def replace(self, res, obj):
        k = self.key(obj)
        old = self.objects[res.plural][k]
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[res.plural][k] = obj
        self._record("MODIFIED", res.plural, obj, old)

    def remove(self, res, obj):
        k = self.key(obj)
        old = self.objects[res.plural].pop(k)
        self.uids.pop(old["metadata"]["uid"], None)
        self.rv += 1
        final = copy.deepcopy(old)
        final["metadata"]["resourceVersion"] = str(self.rv)
        self._record("DELETED", res.plural, final, old)
        return final

    def expire(self):
        self.history.clear()
        self.floor = self.rv
        self.expire_epoch += 1
        self.cond.notify_all()

    def drop(self):
        self.drop_epoch += 1
        self.cond.notify_all()


# ------------------------------------------------- defaults and validation

LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
             "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
             "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                 "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                 "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_LIMITS = {"namespaces": 63, "jobs": 63, "cronjobs": 52}


def validate_name(res, name, errs):
    limit = NAME_LIMITS.get(res.plural, 253)
    if res is NAMESPACES:
        if not LABEL_RE.match(name):
            errs.add("metadata.name", "Invalid value", LABEL_MSG, name, True)
    elif not SUBDOMAIN_RE.match(name):
        errs.add("metadata.name", "Invalid value", SUBDOMAIN_MSG, name, True)
    if len(name) > limit:
        errs.add("metadata.name", "Invalid value", f"must be no more than {limit} characters", name, True)


def default_container(c):
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    res = c.setdefault("resources", {})
    if isinstance(res, dict) and isinstance(res.get("limits"), dict):
        req = res.setdefault("requests", {})
        for k, v in res["limits"].items():
            req.setdefault(k, v)


def default_pod_spec(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            default_container(c)
    for v in spec.get("volumes") or []:
        for kind in ("secret", "configMap"):
            if isinstance(v, dict) and isinstance(v.get(kind), dict):
                v[kind].setdefault("defaultMode", 420)


def qos_class(spec):
    reqs, lims, guaranteed = False, False, True
    for c in spec.get("containers") or []:
        r = dig(c, "resources", default={})
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        reqs = reqs or bool(req)
        lims = lims or bool(lim)
        for k in ("cpu", "memory"):
            if k not in lim or str(req.get(k, lim.get(k))) != str(lim[k]):
                guaranteed = False
    if guaranteed and lims:
        return "Guaranteed"
    return "Burstable" if reqs or lims else "BestEffort"


def validate_pod_spec(spec, path, errs, job=False):
    if not isinstance(spec, dict):
        errs.add(path, "Required value")
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errs.add(f"{path}.containers", "Required value")
        containers = []
    vols = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    seen = set()
    for i, c in enumerate(containers):
        cp = f"{path}.containers[{i}]"
        if not isinstance(c, dict):
            errs.add(cp, "Invalid value", "must be an object", c, True)
            continue
        name = c.get("name")
        if not name:
            errs.add(f"{cp}.name", "Required value")
        elif not LABEL_RE.match(name):
            errs.add(f"{cp}.name", "Invalid value", LABEL_MSG, name, True)
        elif name in seen:
            errs.add(f"{cp}.name", "Duplicate value", "", name, True)
        seen.add(name)
        if not c.get("image"):
            errs.add(f"{cp}.image", "Required value")
        for kind in ("limits", "requests"):
            for k, v in (dig(c, "resources", kind) or {}).items():
                try:
                    parse_quantity(v)
                except ValueError as e:
                    errs.add(f"{cp}.resources.{kind}[{k}]", "Invalid value", str(e), v, True)
        for j, m in enumerate(c.get("volumeMounts") or []):
            if isinstance(m, dict) and m.get("name") not in vols:
                errs.add(f"{cp}.volumeMounts[{j}].name", "Not found", "", m.get("name"), True)
        pol = c.get("imagePullPolicy")
        if pol not in ("Always", "IfNotPresent", "Never"):
            errs.add(f"{cp}.imagePullPolicy", "Unsupported value",
                     'supported values: "Always", "IfNotPresent", "Never"', pol, True)
    rp = spec.get("restartPolicy")
    allowed = ["OnFailure", "Never"] if job else ["Always", "OnFailure", "Never"]
    if rp not in allowed:
        if job and rp is None:
            errs.add(f"{path}.restartPolicy", "Required value", 'valid values: "OnFailure", "Never"')
        else:
            errs.add(f"{path}.restartPolicy", "Unsupported value",
                     "supported values: " + ", ".join(f'"{a}"' for a in allowed), rp, True)
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        errs.add(f"{path}.activeDeadlineSeconds", "Invalid value", "must be between 1 and 2147483647, inclusive", ads, True)


def default_job(obj):
    spec = obj.setdefault("spec", {})
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    tmpl = spec.setdefault("template", {})
    if isinstance(tmpl, dict):
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = tmpl.setdefault("metadata", {}).setdefault("labels", {})
            labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                           "controller-uid": uid, "job-name": name})
        if isinstance(tmpl.get("spec"), dict):
            default_pod_spec(tmpl["spec"])


def validate_job_spec(spec, path, errs):
    if not isinstance(spec, dict):
        errs.add(path, "Required value")
        return
    for k in ("parallelism", "completions", "backoffLimit"):
        v = spec.get(k)
        if v is not None and (not isinstance(v, int) or v < 0):
            errs.add(f"{path}.{k}", "Invalid value", "must be greater than or equal to 0", v, True)
    for k in ("activeDeadlineSeconds",):
        v = spec.get(k)
        if v is not None and (not isinstance(v, int) or v <= 0):
            errs.add(f"{path}.{k}", "Invalid value", "must be greater than 0", v, True)
    validate_pod_spec(dig(spec, "template", "spec"), f"{path}.template.spec", errs, job=True)


def default_object(res, obj):
    if res is PODS:
        spec = obj.setdefault("spec", {})
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tol = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if isinstance(tol, list) and not any(isinstance(t, dict) and t.get("key") == key for t in tol):
                tol.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    elif res is JOBS:
        default_job(obj)
    elif res is CRONJOBS:
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        js = dig(spec, "jobTemplate", "spec")
        if isinstance(js, dict):
            js.setdefault("backoffLimit", 6)
            js.setdefault("completionMode", "NonIndexed")
            js.setdefault("suspend", False)
            if isinstance(dig(js, "template", "spec"), dict):
                default_pod_spec(js["template"]["spec"])
    elif res is SECRETS:
        obj.setdefault("type", "Opaque")
        sd = obj.pop("stringData", None)
        if isinstance(sd, dict):
            data = obj.setdefault("data", {})
            for k, v in sd.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif res is NAMESPACES:
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("status", {"phase": "Active"})


def validate_object(res, obj):
    errs = Invalid()
    meta = obj["metadata"]
    name = meta.get("name") or ""
    validate_name(res, name, errs)
    for k, v in (meta.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE_RE.match(v):
            errs.add(f"metadata.labels", "Invalid value",
                     "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                     "or '.', and must start and end with an alphanumeric character", v, True)
    if res is PODS:
        validate_pod_spec(obj.get("spec"), "spec", errs)
    elif res is JOBS:
        validate_job_spec(obj.get("spec"), "spec", errs)
    elif res is CRONJOBS:
        spec = obj.get("spec") or {}
        try:
            Cron(str(spec.get("schedule") or ""))
        except ValueError as e:
            errs.add("spec.schedule", "Invalid value", str(e), spec.get("schedule"), True)
        tz = spec.get("timeZone")
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errs.add("spec.timeZone", "Invalid value", "unknown time zone " + str(tz), tz, True)
        pol = spec.get("concurrencyPolicy")
        if pol not in ("Allow", "Forbid", "Replace"):
            errs.add("spec.concurrencyPolicy", "Unsupported value",
                     'supported values: "Allow", "Forbid", "Replace"', pol, True)
        validate_job_spec(dig(spec, "jobTemplate", "spec"), "spec.jobTemplate.spec", errs)
    elif res is SECRETS:
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(v, validate=True)
            except (ValueError, TypeError):
                raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                  f'data in data[{k}]')
    errs.check(res, name)


def default_status(res, obj):
    if res is PODS:
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    if res in (JOBS, CRONJOBS):
        return {}
    if res is NAMESPACES:
        return {"phase": "Active"}
    return None


# -------------------------------------------------------------------- API

STATUS_SUBRESOURCE = {"pods", "jobs", "cronjobs", "namespaces", "nodes"}
KEEP_META = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
             "deletionGracePeriodSeconds", "generation")


class Api:
    """The verbs of the REST API on top of the store; used by the HTTP layer
    and by the controllers alike."""

    def __init__(self, fake):
        self.fake = fake
        self.store = fake.store

    def now(self):
        return self.fake.clock.now()

    def _conflict(self, res, name):
        return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": the object '
                        "has been modified; please apply your changes to the latest version and try again",
                        res.details(name))

    def _check_body(self, res, ns, obj):
        if not isinstance(obj, dict):
            raise bad_request(f"the body of the request was not a {res.kind} object")
        kind, apiv = obj.get("kind"), obj.get("apiVersion")
        if apiv and apiv != res.api_version:
            raise bad_request(f"the API version in the data ({apiv}) does not match the expected API version "
                              f"({res.api_version})")
        if kind and kind != res.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version

    def _check_namespace(self, res, ns, name=None):
        if not res.namespaced:
            return
        nso = self.store.get(NAMESPACES, "", ns)
        if nso is None:
            raise NAMESPACES.not_found(ns)
        if name is not None and nso["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{res.qualified} "{name}" is forbidden: unable to create new content '
                           f"in namespace {ns} because it is being terminated", res.details(name))

    # --- read

    def get(self, res, ns, name):
        with self.store.lock:
            obj = self.store.get(res, ns, name)
            if obj is None:
                raise res.not_found(name)
            return copy.deepcopy(obj)

    def list(self, res, ns, params):
        lsel = LabelSelector(params.get("labelSelector", ""))
        fsel = FieldSelector(params.get("fieldSelector", ""), res.plural)
        with self.store.lock:
            items = [o for o in self.store.items(res, ns)
                     if lsel.matches(o["metadata"].get("labels")) and fsel.matches(o)]
            rv = self.store.rv
        meta = {"resourceVersion": str(rv)}
        cont = params.get("continue")
        if cont:
            try:
                start = json.loads(base64.urlsafe_b64decode(cont.encode()))["start"]
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid")
            items = [o for o in items if list(self.store.key(o)) > start]
        limit = int(params.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "start": list(self.store.key(items[limit - 1]))}).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
                "items": [{k: v for k, v in copy.deepcopy(o).items() if k not in ("kind", "apiVersion")}
                          for o in items]}

    # --- create

    def create(self, res, ns, obj, dry_run=False):
        with self.store.lock:
            self._check_body(res, ns, obj)
            meta = obj["metadata"]
            if not meta.get("name"):
                if meta.get("generateName"):
                    for _ in range(20):
                        meta["name"] = meta["generateName"][:58] + rand_suffix()
                        if self.store.get(res, ns, meta["name"]) is None:
                            break
                else:
                    errs = Invalid()
                    errs.add("metadata.name", "Required value", "name or generateName is required")
                    errs.check(res, "")
            name = meta["name"]
            self._check_namespace(res, ns, name)
            if self.store.get(res, ns, name) is not None:
                raise ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', res.details(name))
            for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "managedFields", "selfLink", "generation"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = fmt_time(self.now())
            if res in (JOBS, CRONJOBS):
                meta["generation"] = 1
            default_object(res, obj)
            validate_object(res, obj)
            st = default_status(res, obj)
            if st is not None:
                obj["status"] = st
            if dry_run:
                return copy.deepcopy(obj)
            self.store.add(res, obj)
            if res is JOBS:
                self.fake.stats.mark("job-created", namespace=ns, job=name, labels=dict(meta.get("labels") or {}))
            if res is NAMESPACES and self.store.get(SERVICEACCOUNTS, name, "default") is None:
                self.create(SERVICEACCOUNTS, name, {"metadata": {"name": "default"}})
            return copy.deepcopy(obj)

    # --- update and patch

    def _updated(self, res, cur, body, sub):
        if sub == "status":
            new = copy.deepcopy(cur)
            new["status"] = copy.deepcopy(body.get("status") or {})
            return new
        new = copy.deepcopy(body)
        new["kind"], new["apiVersion"] = res.kind, res.api_version
        m, cm = new.setdefault("metadata", {}), cur["metadata"]
        for k in KEEP_META:
            if k in cm:
                m[k] = cm[k]
            else:
                m.pop(k, None)
        m.pop("managedFields", None)
        m["resourceVersion"] = cm["resourceVersion"]
        if res.plural in STATUS_SUBRESOURCE:
            new["status"] = copy.deepcopy(cur.get("status"))
        default_object(res, new)
        validate_object(res, new)
        if res in (JOBS, CRONJOBS) and new.get("spec") != cur.get("spec"):
            m["generation"] = cm.get("generation", 1) + 1
        return new

    def _commit(self, res, cur, new, dry_run):
        if dry_run or new == cur:
            return copy.deepcopy(new)
        m = new["metadata"]
        if m.get("deletionTimestamp") and not m.get("finalizers") and not self._busy(res, new):
            return self.store.remove(res, new)
        self.store.replace(res, new)
        return copy.deepcopy(new)

    def update(self, res, ns, name, body, sub=None, dry_run=False):
        with self.store.lock:
            self._check_body(res, ns, body)
            bname = body["metadata"].get("name")
            if bname and bname != name:
                raise bad_request(f"the name of the object ({bname}) does not match the name on the URL ({name})")
            body["metadata"]["name"] = name
            cur = self.store.get(res, ns, name)
            if cur is None:
                raise res.not_found(name)
            rv = body["metadata"].get("resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise self._conflict(res, name)
            return self._commit(res, cur, self._updated(res, cur, body, sub), dry_run)

    def patch(self, res, ns, name, ctype, body, sub=None, dry_run=False):
        with self.store.lock:
            cur = self.store.get(res, ns, name)
            if cur is None:
                raise res.not_found(name)
            if ctype == "application/json-patch+json":
                patched = json_patch(cur, body)
            elif isinstance(body, dict):
                patched = merge_patch(cur, body, ctype == "application/strategic-merge-patch+json")
            else:
                raise bad_request("a merge patch must be a JSON object")
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched object must be a JSON object")
            rv = dig(patched, "metadata", "resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise self._conflict(res, name)
            self._check_body(res, ns, patched)
            return self._commit(res, cur, self._updated(res, cur, patched, sub), dry_run)

    def set_status(self, res, uid, mutate):
        """Apply mutate(obj) to a copy of the object with this uid; store it if it changed."""
        with self.store.lock:
            cur = self.store.by_uid(uid)
            if cur is None:
                return None
            new = copy.deepcopy(cur)
            mutate(new)
            if new != cur:
                self.store.replace(res, new)
                if res is PODS:
                    self.fake.stats.running(sum(1 for p in self.store.items(PODS)
                                                if dig(p, "status", "phase") == "Running"))
            return new

    # --- delete

    def _busy(self, res, obj):
        return res is PODS and self.fake.kubelet.busy(obj["metadata"]["uid"])

    def _orphan(self, uid):
        for res in RESOURCES:
            for obj in list(self.store.items(res)):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self.store.replace(res, new)

    def delete(self, res, ns, name, opts=None, dry_run=False):
        opts = opts or {}
        with self.store.lock:
            obj = self.store.get(res, ns, name)
            if obj is None:
                raise res.not_found(name)
            meta = obj["metadata"]
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {pre['uid']}, "
                               f"UID in object meta: {meta['uid']}", res.details(name))
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise ApiError(409, "Conflict", "Precondition failed: ResourceVersion in precondition: "
                               f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                               f"{meta['resourceVersion']}", res.details(name))
            if res is NAMESPACES and name in ("default", "kube-system", "kube-public"):
                raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be '
                               "deleted", res.details(name))
            policy = opts.get("propagationPolicy")
            if policy is None and opts.get("orphanDependents") is not None:
                policy = "Orphan" if opts["orphanDependents"] else "Background"
            if policy is None:
                policy = "Orphan" if res is JOBS else "Background"
            if policy not in ("Orphan", "Background", "Foreground"):
                errs = Invalid()
                errs.add("propagationPolicy", "Unsupported value",
                         'supported values: "Foreground", "Background", "Orphan", nil', policy, True)
                errs.check(Resource("", "deleteoptions", "DeleteOptions"), "")
            grace = opts.get("gracePeriodSeconds")
            if grace is not None:
                try:
                    grace = max(0, int(grace))
                except (TypeError, ValueError):
                    raise bad_request("gracePeriodSeconds must be an integer")
            if dry_run:
                return copy.deepcopy(obj)
            if meta.get("deletionTimestamp"):
                if res is PODS and grace is not None:
                    self.fake.kubelet.kill(meta["uid"], "Deleted", grace)
                return copy.deepcopy(obj)
            if policy == "Orphan":
                self._orphan(meta["uid"])
            new = copy.deepcopy(obj)
            nm = new["metadata"]
            fins = list(nm.get("finalizers") or [])
            if policy == "Foreground" and "foregroundDeletion" not in fins:
                fins.append("foregroundDeletion")
            if fins:
                nm["finalizers"] = fins
            if res is PODS:
                if grace is None:
                    grace = dig(obj, "spec", "terminationGracePeriodSeconds", default=30)
                if self._busy(res, obj):
                    self.fake.kubelet.kill(meta["uid"], "Deleted", grace)
                    if grace > 0:
                        nm["deletionTimestamp"] = fmt_time(self.now() + grace)
                        nm["deletionGracePeriodSeconds"] = grace
                        self.store.replace(res, new)
                        return copy.deepcopy(new)
            if res is NAMESPACES:
                new["status"] = {"phase": "Terminating"}
                fins = True
            if fins:
                nm["deletionTimestamp"] = fmt_time(self.now())
                nm["deletionGracePeriodSeconds"] = 0
                self.store.replace(res, new)
                return copy.deepcopy(new)
            return self.store.remove(res, obj)

    def delete_collection(self, res, ns, params, opts, dry_run=False):
        lst = self.list(res, ns, {k: v for k, v in params.items() if k in ("labelSelector", "fieldSelector")})
        out = []
        for item in lst["items"]:
            try:
                out.append(self.delete(res, item["metadata"].get("namespace", ""), item["metadata"]["name"],
                                       opts, dry_run))
            except ApiError as e:
                if e.code != 404:
                    raise
        lst["items"] = out
        return lst

    def finish_pod_deletion(self, uid):
        with self.store.lock:
            pod = self.store.by_uid(uid)
            if pod and pod["metadata"].get("deletionTimestamp") and not pod["metadata"].get("finalizers"):
                self.store.remove(PODS, pod)

    # --- events

    def event(self, obj, etype, reason, message, component="kubelet"):
        with self.store.lock:
            meta = obj["metadata"]
            ns = meta.get("namespace") or "default"
            if self.store.get(NAMESPACES, "", ns) is None:
                return
            now = fmt_time(self.now())
            ev = {"kind": "Event", "apiVersion": "v1",
                  "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns,
                               "uid": str(uuid.uuid4()), "creationTimestamp": now},
                  "involvedObject": {"kind": obj.get("kind"), "namespace": meta.get("namespace"),
                                     "name": meta["name"], "uid": meta.get("uid"),
                                     "apiVersion": obj.get("apiVersion"),
                                     "resourceVersion": meta.get("resourceVersion")},
                  "reason": reason, "message": message,
                  "source": {"component": component, "host": NODE_NAME} if component == "kubelet"
                  else {"component": component},
                  "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": etype, "eventTime": None,
                  "reportingComponent": component, "reportingInstance": NODE_NAME if component == "kubelet" else ""}
            if obj.get("kind") == "Pod" and meta.get("namespace"):
                names = [c.get("name") for c in dig(obj, "spec", "containers", default=[])]
                if reason in ("Pulling", "Pulled", "Created", "Started", "Killing", "Failed", "BackOff") and names:
                    ev["involvedObject"]["fieldPath"] = f"spec.containers{{{names[0]}}}"
            self.store.add(EVENTS, ev)


# ------------------------------------------------------------------ tables

def _cond_true(obj, ctype):
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in dig(obj, "status", "conditions", default=[]))


def pod_status_text(pod):
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Pending"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            t = state["terminated"]
            reason = t.get("reason") or (f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}")
    return reason


def table_columns(res):
    def col(name, typ="string", prio=0, fmt=""):
        return {"name": name, "type": typ, "format": fmt, "description": name, "priority": prio}
    if res is PODS:
        return [col("Name", fmt="name"), col("Ready"), col("Status"), col("Restarts"), col("Age"),
                col("IP", prio=1), col("Node", prio=1)]
    if res is JOBS:
        return [col("Name", fmt="name"), col("Status"), col("Completions"), col("Duration"), col("Age"),
                col("Containers", prio=1), col("Images", prio=1), col("Selector", prio=1)]
    if res is CRONJOBS:
        return [col("Name", fmt="name"), col("Schedule"), col("Timezone"), col("Suspend", "boolean"),
                col("Active", "integer"), col("Last Schedule"), col("Age")]
    if res is EVENTS:
        return [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message")]
    return [col("Name", fmt="name"), col("Age")]


def table_cells(res, obj, now):
    meta, st = obj["metadata"], obj.get("status") or {}
    age = human_age(now - parse_time(meta["creationTimestamp"])) if meta.get("creationTimestamp") else "<unknown>"
    if res is PODS:
        css = st.get("containerStatuses") or []
        total = len(dig(obj, "spec", "containers", default=[]))
        ready = sum(1 for c in css if c.get("ready"))
        restarts = sum(c.get("restartCount", 0) for c in css)
        return [meta["name"], f"{ready}/{total}", pod_status_text(obj), restarts, age,
                st.get("podIP") or "<none>", dig(obj, "spec", "nodeName") or "<none>"]
    if res is JOBS:
        spec = obj.get("spec") or {}
        status = ("Complete" if _cond_true(obj, "Complete") else "Failed" if _cond_true(obj, "Failed")
                  else "Suspended" if spec.get("suspend") else "Running")
        comp = f"{st.get('succeeded', 0)}/{spec.get('completions') if spec.get('completions') is not None else 1}"
        dur = ""
        if st.get("startTime"):
            end = parse_time(st["completionTime"]) if st.get("completionTime") else now
            dur = human_age(end - parse_time(st["startTime"]))
        cs = dig(spec, "template", "spec", "containers", default=[])
        sel = ",".join(f"{k}={v}" for k, v in (dig(spec, "selector", "matchLabels") or {}).items())
        return [meta["name"], status, comp, dur, age, ",".join(c.get("name", "") for c in cs),
                ",".join(c.get("image", "") for c in cs), sel]
    if res is CRONJOBS:
        spec = obj.get("spec") or {}
        last = human_age(now - parse_time(st["lastScheduleTime"])) if st.get("lastScheduleTime") else "<none>"
        return [meta["name"], spec.get("schedule"), spec.get("timeZone") or "<none>", bool(spec.get("suspend")),
                len(st.get("active") or []), last, age]
    if res is EVENTS:
        io = obj.get("involvedObject") or {}
        last = obj.get("lastTimestamp") or meta.get("creationTimestamp")
        return [human_age(now - parse_time(last)) if last else "<unknown>", obj.get("type"), obj.get("reason"),
                f"{(io.get('kind') or '').lower()}/{io.get('name')}", obj.get("message")]
    return [meta["name"], age]


def make_table(res, objs, include, now, rv=None):
    rows = []
    for o in objs:
        row = {"cells": table_cells(res, o, now)}
        if include == "Object":
            row["object"] = dict(o, kind=res.kind, apiVersion=res.api_version)
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    meta = {"resourceVersion": rv} if rv else {}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": table_columns(res), "rows": rows}


# ----------------------------------------------------------------- podman

class Podman:
    def __init__(self, exe):
        self.exe = exe

    def run(self, args, timeout=300, env=None):
        try:
            p = subprocess.run([self.exe] + args, capture_output=True, text=True, timeout=timeout,
                               env=env, stdin=subprocess.DEVNULL)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return 124, "", "podman timed out"
        except OSError as e:
            return 127, "", str(e)

    @staticmethod
    def error(err):
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        msg = lines[-1] if lines else "unknown error"
        return msg[7:] if msg.startswith("Error: ") else msg

    def image_exists(self, image):
        return self.run(["image", "exists", image], timeout=60)[0] == 0

    def image_id(self, image):
        rc, out, _ = self.run(["image", "inspect", "--format", "{{.Id}}", image], timeout=60)
        return f"sha256:{out.strip()}" if rc == 0 and out.strip() else ""

    def pull(self, image):
        first = image.split("/", 1)[0] if "/" in image else ""
        host = first.rsplit(":", 1)[0] if ":" in first and not first.startswith("[") else first
        args = ["pull", "-q"]
        if host in ("localhost", "127.0.0.1", "[::1]"):
            args.append("--tls-verify=false")
        rc, _, err = self.run(args + [image], timeout=600)
        return rc == 0, self.error(err)


def kernel_reports_oom(container_id):
    """True when the kernel log names this container's memory cgroup in an OOM kill."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    found = False
    try:
        while True:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue
            if not rec:
                break
            if b"oom-kill:" in rec and container_id.encode() in rec:
                found = True
    finally:
        os.close(fd)
    return found


class ConfigError(Exception):
    def __init__(self, reason, message, event_reason="Failed"):
        super().__init__(message)
        self.reason, self.message, self.event_reason = reason, message, event_reason


def requests_of(pod):
    total = collections.Counter({"pods": 1})
    for c in dig(pod, "spec", "containers", default=[]):
        res = c.get("resources") or {}
        merged = dict(res.get("limits") or {})
        merged.update(res.get("requests") or {})
        for k, v in merged.items():
            try:
                total[k] += parse_quantity(v)
            except ValueError:
                pass
    return total


def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_affinity_ok(pod, labels):
    for k, v in (dig(pod, "spec", "nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    terms = dig(pod, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                "nodeSelectorTerms")
    if not terms:
        return True
    for term in terms:
        ok = True
        for e in term.get("matchExpressions") or []:
            have, vals, op = labels.get(e.get("key")), e.get("values") or [], e.get("operator")
            ok &= {"In": have in vals, "NotIn": have not in vals, "Exists": have is not None,
                   "DoesNotExist": have is None}.get(op, False) if op not in ("Gt", "Lt") else \
                (have is not None and have.isdigit() and vals and
                 (int(have) > int(vals[0]) if op == "Gt" else int(have) < int(vals[0])))
        for e in term.get("matchFields") or []:
            if e.get("key") == "metadata.name":
                ok &= (NODE_NAME in (e.get("values") or [])) == (e.get("operator") == "In")
        if ok:
            return True
    return False


class PodWorker(threading.Thread):
    """Runs one pod's containers with podman and reports their status."""

    def __init__(self, kubelet, pod):
        super().__init__(daemon=True, name="pod-" + pod["metadata"]["name"])
        self.k, self.api, self.podman = kubelet, kubelet.api, kubelet.podman
        self.pod = copy.deepcopy(pod)
        self.spec = self.pod["spec"]
        meta = self.pod["metadata"]
        self.uid, self.ns, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.dir = os.path.join(kubelet.pod_root, self.uid)
        self.mu = threading.Lock()
        self.wake = threading.Event()
        self.kill_reason, self.kill_grace, self.fail_reason = None, None, None
        self.finished = False
        self.cs = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "started": False,
                    "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                   for c in self.spec["containers"]]
        self.final = [False] * len(self.cs)
        self.running = {}
        self.start_mono = time.monotonic()
        self.start_time = self.api.now()
        self.volumes = None

    # --- status

    def killing(self):
        return self.kill_reason is not None or self.k.fake.stopping.is_set()

    def _phase(self):
        if all(self.final):
            if self.fail_reason:
                return "Failed"
            ok = all(dig(cs, "state", "terminated", "exitCode") == 0 for cs in self.cs)
            return "Succeeded" if ok else "Failed"
        if any("running" in cs["state"] or "terminated" in cs["state"] or cs["restartCount"] for cs in self.cs):
            return "Running"
        return "Pending"

    def publish(self):
        now = fmt_time(self.api.now())
        with self.mu:
            phase, css = self._phase(), copy.deepcopy(self.cs)
            fail = self.fail_reason if all(self.final) else None

        def mutate(pod):
            st = pod.setdefault("status", {})
            old = {c.get("type"): c for c in st.get("conditions") or []}

            def cond(ctype, ok, reason=None, message=None):
                status = "True" if ok else "False"
                prev = old.get(ctype)
                c = {"type": ctype, "status": status, "lastProbeTime": None,
                     "lastTransitionTime": prev.get("lastTransitionTime") if prev and prev.get("status") == status
                     else now}
                if reason:
                    c["reason"] = reason
                if message:
                    c["message"] = message
                return c
            ready = phase == "Running" and all(c["ready"] for c in css)
            reason = message = None
            if not ready:
                reason = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase, "ContainersNotReady")
                if reason == "ContainersNotReady":
                    message = "containers with unready status: [" + " ".join(
                        c["name"] for c in css if not c["ready"]) + "]"
            conds = [cond("PodReadyToStartContainers", phase in ("Pending", "Running")), cond("Initialized", True),
                     cond("Ready", ready, reason, message), cond("ContainersReady", ready, reason, message),
                     cond("PodScheduled", True)]
            if fail == "Evicted":
                conds.insert(0, cond("DisruptionTarget", True, "TerminationByKubelet",
                                     "The node was low on resource: memory."))
            st.update({"phase": phase, "conditions": conds, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                       "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": fmt_time(self.start_time),
                       "containerStatuses": css})
            if fail == "Evicted":
                st["reason"], st["message"] = "Evicted", "The node was low on resource: memory."
            elif fail == "DeadlineExceeded":
                st["reason"] = "DeadlineExceeded"
                st["message"] = "Pod was active on the node longer than the specified deadline"
        self.api.set_status(PODS, self.uid, mutate)

    def set_waiting(self, i, reason, message=None):
        with self.mu:
            w = {"reason": reason}
            if message:
                w["message"] = message
            self.cs[i]["state"] = {"waiting": w}
        self.publish()

    def event(self, etype, reason, message):
        self.api.event(self.pod, etype, reason, message)

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while not self.killing() and time.monotonic() < end:
            self.wake.wait(min(0.2, max(0.0, end - time.monotonic())))

    # --- lifecycle

    def kill(self, reason, grace):
        with self.mu:
            first = self.kill_reason is None
            if first:
                self.kill_reason = reason
                if reason in ("Evicted", "DeadlineExceeded") and not all(self.final):
                    self.fail_reason = reason
            elif grace >= self.kill_grace:
                return
            self.kill_grace = grace
            names = list(self.running.items())
        self.wake.set()
        if names:
            threading.Thread(target=self._stop, args=(names, grace), daemon=True).start()

    def _stop(self, running, grace):
        for i, _ in running:
            self.event("Normal", "Killing", f"Stopping container {self.cs[i]['name']}")
        self.podman.run(["stop", "-t", str(int(grace))] + [n for _, n in running], timeout=int(grace) + 60)

    def run(self):
        try:
            os.makedirs(self.dir, exist_ok=True)
            self.publish()
            threads = [threading.Thread(target=self.container_loop, args=(i,), daemon=True)
                       for i in range(len(self.cs))]
            for t in threads:
                t.start()
            ads = self.spec.get("activeDeadlineSeconds")
            while any(t.is_alive() for t in threads) and not self.k.fake.stopping.is_set():
                self.wake.wait(0.5)
                self.wake.clear()
                if ads and self.kill_reason is None and time.monotonic() - self.start_mono >= ads:
                    self.event("Warning", "DeadlineExceeded",
                               "Pod was active on the node longer than the specified deadline")
                    self.kill("DeadlineExceeded", self.spec.get("terminationGracePeriodSeconds", 30))
            for t in threads:
                t.join(5)
            if not self.k.fake.stopping.is_set():
                self.publish()
        except Exception:
            traceback.print_exc()
        finally:
            self.finished = True
            self.api.finish_pod_deletion(self.uid)

    def container_loop(self, i):
        c = self.spec["containers"][i]
        policy = self.spec.get("restartPolicy", "Always")
        backoff = 1.0
        try:
            while not self.killing():
                if not self._prepare_image(i, c):
                    break
                env = self._prepare_config(i, c)
                if env is None:
                    break
                code = self._run_once(i, c, env)
                if code is None:
                    break
                if self.killing() or policy == "Never" or (policy == "OnFailure" and code == 0):
                    break
                with self.mu:
                    cs = self.cs[i]
                    cs["lastState"] = cs["state"]
                    cs["restartCount"] += 1
                    cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                               f"back-off {int(backoff * 10)}s restarting failed container="
                                               f"{c['name']} pod={self.name}_{self.ns}({self.uid})"}}
                self.publish()
                self.sleep(backoff)
                backoff = min(backoff * 2, 10)
        except Exception:
            traceback.print_exc()
        with self.mu:
            self.final[i] = True
        # Marked before the status is published: a client that reacts to it reacts after this.
        self.api.fake.stats.mark("container-ended", namespace=self.ns, pod=self.name, container=c["name"],
                                 job=self.job_name())
        self.publish()
        self.wake.set()

    def job_name(self):
        return (self.pod["metadata"].get("labels") or {}).get("job-name", "")

    def _prepare_image(self, i, c):
        image, policy = c["image"], c.get("imagePullPolicy", "IfNotPresent")
        delay = 2.0
        while not self.killing():
            fail = any(s and s in image for s in self.k.fake.faults.get("pull_fail") or [])
            present = not fail and self.podman.image_exists(image)
            if present and policy != "Always":
                self.event("Normal", "Pulled", f'Container image "{image}" already present on machine')
                return True
            if policy == "Never":
                msg = f'Container image "{image}" is not present with pull policy of Never'
                self.set_waiting(i, "ErrImageNeverPull", msg)
                self.event("Warning", "ErrImageNeverPull", msg)
                self.sleep(delay)
                continue
            self.event("Normal", "Pulling", f'Pulling image "{image}"')
            t0 = time.monotonic()
            if fail:
                repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
                ok, msg = False, f"initializing source docker://{image}: reading manifest {tag} in {repo}: manifest unknown"
            else:
                ok, msg = self.podman.pull(image)
            if ok:
                self.event("Normal", "Pulled", f'Successfully pulled image "{image}" in '
                           f"{time.monotonic() - t0:.3f}s")
                return True
            self.set_waiting(i, "ErrImagePull", msg)
            self.event("Warning", "Failed", f'Failed to pull image "{image}": {msg}')
            self.event("Warning", "Failed", "Error: ErrImagePull")
            self.sleep(1.0)
            if self.killing():
                break
            self.set_waiting(i, "ImagePullBackOff", f'Back-off pulling image "{image}"')
            self.event("Normal", "BackOff", f'Back-off pulling image "{image}"')
            self.event("Warning", "Failed", "Error: ImagePullBackOff")
            self.sleep(delay)
            delay = min(delay * 2, 20.0)
        return False

    def _prepare_config(self, i, c):
        shown = None
        while not self.killing():
            try:
                with self.k.store.lock:
                    pod = self.k.store.by_uid(self.uid) or self.pod
                    env = self._env(c, pod)
                    vols = self._volume_data() if self.volumes is None else None
                if vols is not None:
                    self.volumes = self._write_volumes(vols)
                return env
            except ConfigError as e:
                if e.message != shown:
                    self.set_waiting(i, e.reason, e.message)
                    if e.event_reason == "FailedMount":
                        self.event("Warning", "FailedMount", e.message)
                    else:
                        self.event("Warning", "Failed", "Error: " + e.message)
                    shown = e.message
                self.sleep(TICK)
        return None

    def _source(self, res, name, optional):
        obj = self.k.store.get(res, self.ns, name or "")
        if obj is None:
            if optional:
                return None
            raise ConfigError("CreateContainerConfigError", f'{res.kind.lower()} "{name}" not found')
        if res is SECRETS:
            return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
        data = dict(obj.get("data") or {})
        for k, v in (obj.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v).decode("utf-8", "replace")
        return data

    def _field(self, pod, path):
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
        if m:
            return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
        return {"metadata.name": self.name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
                "spec.nodeName": NODE_NAME, "spec.serviceAccountName": self.spec.get("serviceAccountName", ""),
                "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                "status.podIPs": "127.0.0.1", "status.hostIPs": "127.0.0.1"}.get(path, "")

    def _env(self, c, pod):
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.k.fake.port),
               "KUBERNETES_SERVICE_PORT_HTTPS": str(self.k.fake.port)}
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix") or ""
            for kind, res in (("secretRef", SECRETS), ("configMapRef", CONFIGMAPS)):
                if ef.get(kind):
                    for k, v in (self._source(res, ef[kind].get("name"), ef[kind].get("optional")) or {}).items():
                        env[prefix + k] = v
        for e in c.get("env") or []:
            name, vf = e.get("name"), e.get("valueFrom")
            if not vf:
                env[name] = expand_vars(e.get("value") or "", env)
                continue
            for kind, res in (("secretKeyRef", SECRETS), ("configMapKeyRef", CONFIGMAPS)):
                ref = vf.get(kind)
                if ref:
                    data = self._source(res, ref.get("name"), ref.get("optional"))
                    if data is not None and ref.get("key") in data:
                        env[name] = data[ref["key"]]
                    elif data is not None and not ref.get("optional"):
                        raise ConfigError("CreateContainerConfigError", f"couldn't find key {ref.get('key')} in "
                                          f"{res.kind} {self.ns}/{ref.get('name')}")
            if vf.get("fieldRef"):
                env[name] = str(self._field(pod, vf["fieldRef"].get("fieldPath", "")))
            if vf.get("resourceFieldRef"):
                ref = vf["resourceFieldRef"]
                kind, _, rname = (ref.get("resource") or "").partition(".")
                val = dig(c, "resources", kind, rname) or self.k.allocatable.get(rname, 0)
                div = parse_quantity(ref.get("divisor") or "1")
                env[name] = str(int(-(-parse_quantity(val) // div)))
        return env

    def _volume_data(self):
        out = {}
        for v in self.spec.get("volumes") or []:
            name = v.get("name")
            for kind, res, key in (("secret", SECRETS, "secretName"), ("configMap", CONFIGMAPS, "name")):
                if isinstance(v.get(kind), dict):
                    src = v[kind]
                    try:
                        data = self._source(res, src.get(key), src.get("optional"))
                    except ConfigError as e:
                        raise ConfigError("ContainerCreating", f'MountVolume.SetUp failed for volume "{name}" : '
                                          + e.message, "FailedMount")
                    files = {}
                    for k, val in (data or {}).items():
                        files[k] = val
                    if src.get("items"):
                        files = {it["path"]: data[it["key"]] for it in src["items"] if data and it.get("key") in data}
                    out[name] = ("files", files, src.get("defaultMode", 420))
            if name not in out:
                if isinstance(v.get("hostPath"), dict):
                    out[name] = ("host", v["hostPath"].get("path"), v["hostPath"].get("type") or "")
                else:
                    out[name] = ("dir", None, None)
        return out

    def _write_volumes(self, vols):
        host = {}
        for name, (kind, data, extra) in vols.items():
            path = os.path.join(self.dir, "volumes", name)
            if kind == "host":
                path = data
                if extra == "DirectoryOrCreate":
                    os.makedirs(path, exist_ok=True)
                elif extra == "FileOrCreate" and not os.path.exists(path):
                    open(path, "a").close()
                host[name] = (path, False)
                continue
            os.makedirs(path, exist_ok=True)
            if kind == "files":
                for fname, content in data.items():
                    fpath = os.path.join(path, fname)
                    os.makedirs(os.path.dirname(fpath), exist_ok=True)
                    with open(fpath, "w") as f:
                        f.write(content)
                    os.chmod(fpath, extra & 0o777)
            else:
                os.chmod(path, 0o777)
            host[name] = (path, kind == "files")
        return host

    def _service_account_dir(self):
        """The files a kubelet mounts for the pod's service account (token, the cluster's CA,
        the namespace), unless the pod turns automountServiceAccountToken off. Needs TLS: an
        in-cluster client speaks https."""
        fake = self.k.fake
        token = fake.args.service_account_token or (fake.tokens[0] if fake.tokens else "")
        if self.spec.get("automountServiceAccountToken") is False or not token or not fake.args.tls_cert:
            return None
        path = os.path.join(self.dir, "serviceaccount")
        if not os.path.isdir(path):
            os.makedirs(path)
            with open(fake.args.cluster_ca or fake.args.tls_cert) as f:
                ca = f.read()
            for name, text in (("token", token), ("namespace", self.ns), ("ca.crt", ca)):
                with open(os.path.join(path, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(path, name), 0o644)
        return path

    def _mounts(self, c):
        args = []
        for m in c.get("volumeMounts") or []:
            src, ro = self.volumes.get(m.get("name"), (None, False))
            if not src or not m.get("mountPath"):
                continue
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
                if not os.path.exists(src):
                    os.makedirs(src, exist_ok=True)
            args += ["-v", f"{src}:{m['mountPath']}" + (":ro" if ro or m.get("readOnly") else "")]
        return args

    def _run_args(self, c, pname, log, term, envfile, env, passed):
        args = ["run", "-d", "--pull=never", "--name", pname, "--label", self.k.label,
                "--label", f"baton-fake-pod={self.ns}/{self.name}", "--network", "host",
                "--hostname", self.name[:63], "--log-driver", "k8s-file", "--log-opt", f"path={log}",
                "--env-file", envfile, "-v", f"{term}:{c.get('terminationMessagePath') or '/dev/termination-log'}"]
        args += [a for k in passed for a in ("--env", k)]
        lim = dig(c, "resources", "limits") or {}
        if lim.get("memory") is not None:
            mem = str(int(parse_quantity(lim["memory"])))
            args += ["--memory", mem, "--memory-swap", mem]
        if lim.get("cpu") is not None:
            args += ["--cpus", f"{parse_quantity(lim['cpu']):g}"]
        if c.get("workingDir"):
            args += ["--workdir", c["workingDir"]]
        sc = dict(self.spec.get("securityContext") or {})
        sc.update(c.get("securityContext") or {})
        if sc.get("runAsUser") is not None:
            args += ["--user", str(sc["runAsUser"]) + (f":{sc['runAsGroup']}" if sc.get("runAsGroup") is not None
                                                       else "")]
        if sc.get("privileged"):
            args.append("--privileged")
        args += self._mounts(c)
        sa = self._service_account_dir()
        if sa:
            args += ["-v", f"{sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro"]
        if c.get("command"):
            args += ["--entrypoint", json.dumps([expand_vars(a, env) for a in c["command"]])]
        args.append(c["image"])
        args += [expand_vars(a, env) for a in c.get("args") or []]
        return args

    def _run_once(self, i, c, env):
        cname, run_no = c["name"], self.cs[i]["restartCount"]
        pname = f"fake-{self.ns}-{self.name}-{cname}-{os.getpid()}"
        log = os.path.join(self.dir, f"{cname}-{run_no}.log")
        term = os.path.join(self.dir, f"{cname}-{run_no}.termination-log")
        open(term, "w").close()
        os.chmod(term, 0o666)
        envfile = os.path.join(self.dir, f"{cname}.env")
        inline = {k: v for k, v in env.items() if "\n" not in v and "\r" not in v}
        passed = {k: v for k, v in env.items() if k not in inline}
        fd = os.open(envfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in inline.items())
        proc_env = dict(os.environ, **passed)
        args = self._run_args(c, pname, log, term, envfile, env, passed)
        with self.k.store.lock:
            self.k.logs.setdefault((self.uid, cname), []).append({"path": log, "done": False})
        rc, out, err = self.podman.run(args, env=proc_env)
        if rc != 0 and "already in use" in err:
            self.podman.run(["rm", "-f", "-t", "0", pname])
            rc, out, err = self.podman.run(args, env=proc_env)
        if rc != 0 and re.search(r'workdir ".*" does not exist', err):
            # container runtimes create a missing working directory; podman refuses
            self.podman.run(["rm", "-f", "-t", "0", pname])
            wd = os.path.join(self.dir, f"{cname}-workdir")
            os.makedirs(wd, exist_ok=True)
            os.chmod(wd, 0o777)
            at = args.index("--workdir")
            rc, out, err = self.podman.run(args[:at] + ["-v", f"{wd}:{c['workingDir']}"] + args[at:], env=proc_env)
        try:
            os.unlink(envfile)
        except OSError:
            pass
        now = fmt_time(self.api.now())
        if rc != 0:
            self._log_done(cname)
            self.podman.run(["rm", "-f", "-t", "0", pname])
            msg = self.podman.error(err)
            with self.mu:
                self.cs[i]["state"] = {"terminated": {"exitCode": 128, "reason": "StartError", "message": msg,
                                                      "startedAt": now, "finishedAt": now}}
            self.event("Warning", "Failed", "Error: " + msg)
            return 128
        cid = out.strip().splitlines()[-1] if out.strip() else ""
        image_id = self.podman.image_id(c["image"])
        with self.mu:
            self.running[i] = pname
            self.cs[i].update({"ready": True, "started": True, "containerID": f"podman://{cid}",
                               "imageID": image_id, "state": {"running": {"startedAt": now}}})
        self.event("Normal", "Created", f"Created container {cname}")
        self.event("Normal", "Started", f"Started container {cname}")
        self.publish()
        self.api.fake.stats.mark("container-started", namespace=self.ns, pod=self.name, container=cname,
                                 job=self.job_name())
        if self.killing():
            self._stop([(i, pname)], self.kill_grace or 0)
        self.podman.run(["wait", pname], timeout=None)
        rc, out, _ = self.podman.run(["inspect", "--format", "json", pname])
        try:
            state = json.loads(out)[0]["State"]
            code, oom = int(state.get("ExitCode", 137)), bool(state.get("OOMKilled"))
        except (ValueError, IndexError, KeyError, TypeError):
            code, oom = 137, False
        # An OOM kill of any process in the container's memory cgroup marks the container
        # OOMKilled, as kubelets on cgroup v2 report it (the whole container is one OOM group).
        if not oom and code != 0 and dig(c, "resources", "limits", "memory") is not None \
                and self.kill_reason is None:
            seen = kernel_reports_oom(cid)
            oom = seen if seen is not None else code == 137
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        term_state = {"exitCode": code, "reason": reason, "startedAt": now,
                      "finishedAt": fmt_time(self.api.now()), "containerID": f"podman://{cid}"}
        message = self._termination_message(c, term, log, code)
        if message:
            term_state["message"] = message
        with self.mu:
            self.running.pop(i, None)
            self.cs[i].update({"ready": False, "started": False, "state": {"terminated": term_state}})
        self._log_done(cname)
        self.podman.run(["rm", "-f", "-t", "0", pname])
        return code

    def _log_done(self, cname):
        with self.k.store.lock:
            runs = self.k.logs.get((self.uid, cname)) or []
            if runs:
                runs[-1]["done"] = True
            self.k.store.cond.notify_all()

    def _termination_message(self, c, term, log, code):
        try:
            with open(term, "rb") as f:
                msg = f.read(4096).decode("utf-8", "replace")
        except OSError:
            msg = ""
        if not msg and code != 0 and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            try:
                with open(log, "rb") as f:
                    text = LogRenderer(False).feed(f.read() + b"\n")
            except OSError:
                text = b""
            msg = b"".join(text.splitlines(keepends=True)[-80:])[-2048:].decode("utf-8", "replace")
        return msg


def expand_vars(text, env):
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([-._a-zA-Z0-9]+)\)", sub, str(text))


class LogRenderer:
    """Turns podman's k8s-file log lines into the plain text the kubelet serves."""

    def __init__(self, timestamps):
        self.timestamps, self.buf, self.bol = timestamps, b"", True

    def feed(self, data):
        self.buf += data
        lines = self.buf.split(b"\n")
        self.buf = lines.pop()
        out = []
        for line in lines:
            parts = line.split(b" ", 3)
            if len(parts) < 3:
                continue
            if self.timestamps and self.bol:
                ts = parts[0]
                out.append((ts[:-6] + b"Z" if ts.endswith(b"+00:00") else ts) + b" ")
            out.append(parts[3] if len(parts) > 3 else b"")
            self.bol = parts[2] != b"P"
            if self.bol:
                out.append(b"\n")
        return b"".join(out)


# ---------------------------------------------------------------- kubelet

def host_memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2 ** 30


class Kubelet:
    """Scheduler and kubelet of the single node."""

    def __init__(self, fake):
        self.fake, self.api, self.store = fake, fake.api, fake.store
        args = fake.args
        self.podman = Podman(args.podman)
        self.label = f"baton-fake={os.getpid()}"
        self.pod_root = os.path.join(args.state_dir, "pods")
        os.makedirs(self.pod_root, exist_ok=True)
        self.workers = {}
        self.logs = {}
        self.unschedulable = {}
        self.allocatable = {"cpu": float(args.node_cpu or os.cpu_count() or 1),
                            "memory": float(args.node_memory or host_memory()),
                            "pods": 110.0, "ephemeral-storage": float(100 * 2 ** 30)}
        if args.node_gpus:
            self.allocatable["nvidia.com/gpu"] = float(args.node_gpus)

    def node_object(self):
        def fmt(k, v):
            if k == "cpu":
                return f"{int(v * 1000)}m" if v != int(v) else str(int(v))
            return f"{int(v // 1024)}Ki" if k in ("memory", "ephemeral-storage") else str(int(v))
        cap = {k: fmt(k, v) for k, v in self.allocatable.items()}
        now = fmt_time(self.api.now())
        conds = [(t, "False", r, m) for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conds.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
        return {"kind": "Node", "apiVersion": "v1",
                "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME,
                                                           "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                                           "beta.kubernetes.io/os": "linux",
                                                           "beta.kubernetes.io/arch": "amd64"}},
                "spec": {},
                "status": {"capacity": cap, "allocatable": dict(cap),
                           "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                                           "lastHeartbeatTime": now, "lastTransitionTime": now}
                                          for t, s, r, m in conds],
                           "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                         {"type": "Hostname", "address": NODE_NAME}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                           "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                        "kubeletVersion": GIT_VERSION, "kubeProxyVersion": GIT_VERSION,
                                        "containerRuntimeVersion": "podman://fake", "osImage": "kube-fake",
                                        "kernelVersion": os.uname().release, "machineID": "", "systemUUID": "",
                                        "bootID": ""}}}

    def busy(self, uid):
        w = self.workers.get(uid)
        return w is not None and not w.finished

    def kill(self, uid, reason, grace):
        w = self.workers.get(uid)
        if w is not None and not w.finished:
            w.kill(reason, grace)

    def log_runs(self, uid, cname):
        with self.store.lock:
            return self.logs.get((uid, cname), [])

    def _unfit(self, pod, used, taints):
        for t in taints:
            if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(dig(pod, "spec", "tolerations"), t):
                return ("0/1 nodes are available: 1 node(s) had untolerated taint "
                        f"{{{t.get('key')}: {t.get('value', '')}}}.")
        node = self.store.get(NODES, "", NODE_NAME)
        if not node_affinity_ok(pod, node["metadata"]["labels"]):
            return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        reasons = []
        for k, v in requests_of(pod).items():
            if v > 0 and used[k] + v > self.allocatable.get(k, 0) + 1e-9:
                reasons.append("1 Too many pods" if k == "pods" else f"1 Insufficient {k}")
        if reasons:
            return "0/1 nodes are available: " + ", ".join(sorted(reasons)) + "."
        return None

    def _schedule(self):
        pods = self.store.items(PODS)
        used = collections.Counter()
        for p in pods:
            if dig(p, "spec", "nodeName") == NODE_NAME and dig(p, "status", "phase") not in ("Succeeded", "Failed"):
                used.update(requests_of(p))
        taints = self.fake.faults.get("taints") or []
        pending = [p for p in pods if not dig(p, "spec", "nodeName") and not p["metadata"].get("deletionTimestamp")]
        for p in sorted(pending, key=lambda o: (o["metadata"]["creationTimestamp"], int(o["metadata"]["resourceVersion"]))):
            uid = p["metadata"]["uid"]
            msg = self._unfit(p, used, taints)
            now = fmt_time(self.api.now())
            if msg is None:
                used.update(requests_of(p))
                self.unschedulable.pop(uid, None)

                def bind(o):
                    o["spec"]["nodeName"] = NODE_NAME
                    conds = [c for c in o["status"].get("conditions") or [] if c.get("type") != "PodScheduled"]
                    o["status"]["conditions"] = conds + [{"type": "PodScheduled", "status": "True",
                                                          "lastProbeTime": None, "lastTransitionTime": now}]
                bound = self.api.set_status(PODS, uid, bind)
                self.api.event(bound, "Normal", "Scheduled", f"Successfully assigned {p['metadata']['namespace']}/"
                               f"{p['metadata']['name']} to {NODE_NAME}", "default-scheduler")
            elif self.unschedulable.get(uid) != msg:
                self.unschedulable[uid] = msg

                def unsched(o):
                    o["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                                  "lastTransitionTime": now, "reason": "Unschedulable",
                                                  "message": msg}]
                self.api.set_status(PODS, uid, unsched)
                self.api.event(p, "Warning", "FailedScheduling", msg, "default-scheduler")

    def tick(self):
        start = []
        with self.store.lock:
            self._schedule()
            running = 0
            evict = self.fake.faults.get("evict") or []
            for p in self.store.items(PODS):
                uid, name, phase = p["metadata"]["uid"], p["metadata"]["name"], dig(p, "status", "phase")
                if phase == "Running":
                    running += 1
                    w = self.workers.get(uid)
                    hit = next((s for s in evict if s and s in name), None)
                    if hit and w and not w.finished and w.kill_reason is None:
                        evict.remove(hit)
                        w.kill("Evicted", 0)
                        self.api.event(p, "Warning", "Evicted", "The node was low on resource: memory.")
                if dig(p, "spec", "nodeName") == NODE_NAME and uid not in self.workers and \
                        phase not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp"):
                    self.workers[uid] = PodWorker(self, p)
                    start.append(self.workers[uid])
            self.fake.stats.running(running)
            gone = [uid for uid, w in self.workers.items() if w.finished and self.store.by_uid(uid) is None]
            for uid in gone:
                del self.workers[uid]
                self.unschedulable.pop(uid, None)
                for key in [k for k in self.logs if k[0] == uid]:
                    del self.logs[key]
        for w in start:
            w.start()
        for uid in gone:
            shutil.rmtree(os.path.join(self.pod_root, uid), ignore_errors=True)

    def cleanup(self):
        rc, out, _ = self.podman.run(["ps", "-aq", "--filter", f"label={self.label}"], timeout=60)
        ids = out.split()
        if ids:
            self.podman.run(["rm", "-f", "-t", "0"] + ids, timeout=120)

    def reap_orphans(self):
        """Remove containers left behind by instances of this server that no longer run."""
        rc, out, _ = self.podman.run(["ps", "-a", "--filter", "label=baton-fake",
                                      "--format", '{{.ID}} {{index .Labels "baton-fake"}}'], timeout=60)
        dead = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                try:
                    os.kill(int(parts[1]), 0)
                except ProcessLookupError:
                    dead.append(parts[0])
                except PermissionError:
                    pass
        if dead:
            self.podman.run(["rm", "-f", "-t", "0"] + dead, timeout=120)


# ------------------------------------------------------------ controllers

def owner_ref(obj):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controlled_by(obj, uid):
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def job_finished(job):
    for c in dig(job, "status", "conditions", default=[]):
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


class JobController:
    def __init__(self, fake):
        self.fake, self.api, self.store = fake, fake.api, fake.store
        self.counted = {}
        self.started = {}
        self.finished = {}

    def tick(self):
        with self.store.lock:
            pods = self.store.items(PODS)
            live = set()
            for job in self.store.items(JOBS):
                live.add(job["metadata"]["uid"])
                try:
                    self.sync(job, [p for p in pods if controlled_by(p, job["metadata"]["uid"])])
                except ApiError as e:
                    print(f"job {job['metadata']['name']}: {e.message}", file=sys.stderr)
            for d in (self.counted, self.started, self.finished):
                for uid in [u for u in d if u not in live]:
                    del d[uid]

    def _condition(self, ctype, reason, message):
        now = fmt_time(self.api.now())
        return {"type": ctype, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                "reason": reason, "message": message}

    def _delete_pods(self, job, pods):
        for p in pods:
            try:
                self.api.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"],
                                {"propagationPolicy": "Background"})
                self.api.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                               "job-controller")
            except ApiError:
                pass

    def sync(self, job, pods):
        meta, spec = job["metadata"], job.get("spec") or {}
        uid, ns = meta["uid"], meta["namespace"]
        now_mono = time.monotonic()
        done = job_finished(job)
        if done and uid not in self.finished:
            self.finished[uid] = now_mono
        ttl = spec.get("ttlSecondsAfterFinished")
        if done and ttl is not None and now_mono - self.finished[uid] >= ttl:
            if not meta.get("deletionTimestamp"):
                self.api.delete(JOBS, ns, meta["name"], {"propagationPolicy": "Background"})
            return
        if meta.get("deletionTimestamp"):
            return
        counted = self.counted.setdefault(uid, {})
        for p in pods:
            phase = dig(p, "status", "phase")
            if phase in ("Succeeded", "Failed") and counted.get(p["metadata"]["uid"], "Active") == "Active":
                counted[p["metadata"]["uid"]] = phase
        present = {p["metadata"]["uid"] for p in pods}
        for puid, state in list(counted.items()):
            if state == "Active" and puid not in present:
                counted[puid] = "Failed"
        active = [p for p in pods if dig(p, "status", "phase") not in ("Succeeded", "Failed")
                  and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods if dig(p, "status", "phase") not in ("Succeeded", "Failed")
                       and p["metadata"].get("deletionTimestamp")]
        for p in active:
            counted.setdefault(p["metadata"]["uid"], "Active")
        succeeded = sum(1 for s in counted.values() if s == "Succeeded")
        failed = sum(1 for s in counted.values() if s == "Failed")
        restarts = 0
        if dig(spec, "template", "spec", "restartPolicy") == "OnFailure":
            restarts = sum(cs.get("restartCount", 0) for p in active
                           for cs in dig(p, "status", "containerStatuses", default=[]))
        st = copy.deepcopy(job.get("status") or {})
        conds = st.setdefault("conditions", [])
        now = fmt_time(self.api.now())
        if not done:
            completions, parallelism = spec.get("completions"), spec.get("parallelism", 1)
            if spec.get("suspend"):
                self._delete_pods(job, active)
                active = []
                if not any(c.get("type") == "Suspended" for c in conds):
                    conds.append(self._condition("Suspended", "JobSuspended", "Job suspended"))
                self.started.pop(uid, None)
                st.pop("startTime", None)
            else:
                conds[:] = [c for c in conds if c.get("type") != "Suspended"]
                if uid not in self.started:
                    self.started[uid] = now_mono
                    st["startTime"] = now
                ads = spec.get("activeDeadlineSeconds")
                complete = succeeded >= completions if completions is not None else (succeeded > 0 and not active)
                if complete:
                    conds.append(self._condition("Complete", "CompletionsReached",
                                                 "Reached expected number of succeeded pods"))
                    st["completionTime"] = now
                    self.api.event(job, "Normal", "Completed", "Job completed", "job-controller")
                    self._delete_pods(job, active)
                    active = []
                elif failed + restarts > spec.get("backoffLimit", 6):
                    conds.append(self._condition("Failed", "BackoffLimitExceeded",
                                                 "Job has reached the specified backoff limit"))
                    self.api.event(job, "Warning", "BackoffLimitExceeded",
                                   "Job has reached the specified backoff limit", "job-controller")
                    self._delete_pods(job, active)
                    active = []
                elif ads is not None and now_mono - self.started[uid] >= ads:
                    conds.append(self._condition("Failed", "DeadlineExceeded",
                                                 "Job was active longer than specified deadline"))
                    self.api.event(job, "Warning", "DeadlineExceeded",
                                   "Job was active longer than specified deadline", "job-controller")
                    self._delete_pods(job, active)
                    active = []
                else:
                    want = parallelism if completions is None else min(parallelism, completions - succeeded)
                    if completions is None and succeeded:
                        want = 0
                    for _ in range(max(0, want - len(active))):
                        pod = self._new_pod(job)
                        active.append(pod)
                        counted[pod["metadata"]["uid"]] = "Active"
        if not conds:
            del st["conditions"]
        st["active"] = len(active)
        st["ready"] = sum(1 for p in active if _cond_true(p, "Ready"))
        st["terminating"] = len(terminating)
        st["uncountedTerminatedPods"] = {}
        for k, v in (("succeeded", succeeded), ("failed", failed)):
            if v:
                st[k] = v
            else:
                st.pop(k, None)
        if not st["active"]:
            del st["active"]
        if st != job.get("status"):
            self.api.set_status(JOBS, uid, lambda o: o.__setitem__("status", st))

    def _new_pod(self, job):
        tmpl = copy.deepcopy(dig(job, "spec", "template") or {})
        tmeta = tmpl.get("metadata") or {}
        name = job["metadata"]["name"]
        uid = job["metadata"]["uid"]
        labels = dict(tmeta.get("labels") or {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
        meta = {"generateName": name[:57] + "-", "labels": labels, "ownerReferences": [owner_ref(job)]}
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod = self.api.create(PODS, job["metadata"]["namespace"],
                              {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": tmpl.get("spec") or {}})
        self.api.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}", "job-controller")
        return pod


class CronJobController:
    def __init__(self, fake):
        self.fake, self.api, self.store = fake, fake.api, fake.store
        self.last = {}
        self.seen_done = set()

    def tick(self):
        with self.store.lock:
            jobs = self.store.items(JOBS)
            live = set()
            for cj in self.store.items(CRONJOBS):
                live.add(cj["metadata"]["uid"])
                if cj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.sync(cj, [j for j in jobs if controlled_by(j, cj["metadata"]["uid"])])
                except ApiError as e:
                    print(f"cronjob {cj['metadata']['name']}: {e.message}", file=sys.stderr)
            for uid in [u for u in self.last if u not in live]:
                del self.last[uid]

    def sync(self, cj, jobs):
        meta, spec = cj["metadata"], cj.get("spec") or {}
        uid, ns, name = meta["uid"], meta["namespace"], meta["name"]
        now = self.api.now()
        active = [j for j in jobs if not job_finished(j) and not j["metadata"].get("deletionTimestamp")]
        for j in jobs:
            state = job_finished(j)
            if state and j["metadata"]["uid"] not in self.seen_done:
                self.seen_done.add(j["metadata"]["uid"])
                self.api.event(cj, "Normal", "SawCompletedJob",
                               f"Saw completed job: {j['metadata']['name']}, condition: {state}", "cronjob-controller")
        last = self.last.get(uid)
        if last is None:
            last = parse_time(meta["creationTimestamp"])
            if dig(cj, "status", "lastScheduleTime"):
                last = max(last, parse_time(cj["status"]["lastScheduleTime"]))
        if now < last:
            last = now
        tz = zoneinfo.ZoneInfo(spec.get("timeZone") or "UTC")
        local = datetime.datetime.fromtimestamp(now, tz).replace(tzinfo=None, second=0, microsecond=0)
        fire = Cron(spec["schedule"]).latest(local)
        sched = fire.replace(tzinfo=tz).timestamp() if fire else None
        self.last[uid] = now
        new_status = copy.deepcopy(cj.get("status") or {})
        if sched is not None and sched > last and not spec.get("suspend"):
            sds = spec.get("startingDeadlineSeconds")
            policy = spec.get("concurrencyPolicy", "Allow")
            if sds is not None and now - sched > sds:
                self.api.event(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                               + fmt_time(sched), "cronjob-controller")
            elif policy == "Forbid" and active:
                self.api.event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is "
                               "running and concurrency policy is Forbid", "cronjob-controller")
            else:
                if policy == "Replace":
                    for j in active:
                        self.api.delete(JOBS, ns, j["metadata"]["name"], {"propagationPolicy": "Background"})
                        self.api.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {j['metadata']['name']}",
                                       "cronjob-controller")
                    active = []
                job = self._new_job(cj, sched, tz)
                if job is not None:
                    active.append(job)
                new_status["lastScheduleTime"] = fmt_time(sched)
        known = {r.get("uid"): r for r in new_status.get("active") or []}
        new_status["active"] = [known.get(j["metadata"]["uid"]) or
                                {"kind": "Job", "namespace": ns, "name": j["metadata"]["name"],
                                 "uid": j["metadata"]["uid"], "apiVersion": "batch/v1",
                                 "resourceVersion": j["metadata"]["resourceVersion"]} for j in active]
        if not new_status["active"]:
            del new_status["active"]
        done_times = [dig(j, "status", "completionTime") for j in jobs if job_finished(j) == "Complete"]
        if any(done_times):
            new_status["lastSuccessfulTime"] = max(t for t in done_times if t)
        if new_status != (cj.get("status") or {}):
            self.api.set_status(CRONJOBS, uid, lambda o: o.__setitem__("status", new_status))
        for state, key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                    ("Failed", "failedJobsHistoryLimit", 1)):
            limit = spec.get(key, default)
            done = sorted((j for j in jobs if job_finished(j) == state and not j["metadata"].get("deletionTimestamp")),
                          key=lambda j: (j["metadata"]["creationTimestamp"], int(j["metadata"]["resourceVersion"])))
            for j in done[:max(0, len(done) - (limit or 0))]:
                self.api.delete(JOBS, ns, j["metadata"]["name"], {"propagationPolicy": "Background"})
                self.api.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {j['metadata']['name']}",
                               "cronjob-controller")

    def _new_job(self, cj, sched, tz):
        tmpl = copy.deepcopy(dig(cj, "spec", "jobTemplate") or {})
        tmeta = tmpl.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(sched // 60)}"
        annotations = dict(tmeta.get("annotations") or {})
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = \
            datetime.datetime.fromtimestamp(sched, tz).isoformat().replace("+00:00", "Z")
        meta = {"name": name, "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                "ownerReferences": [owner_ref(cj)]}
        try:
            job = self.api.create(JOBS, cj["metadata"]["namespace"],
                                  {"kind": "Job", "apiVersion": "batch/v1", "metadata": meta,
                                   "spec": tmpl.get("spec") or {}})
        except ApiError as e:
            if e.code != 409:
                self.api.event(cj, "Warning", "FailedCreate", f"Error creating job: {e.message}", "cronjob-controller")
            return None
        self.api.event(cj, "Normal", "SuccessfulCreate", f"Created job {name}", "cronjob-controller")
        return job


class GarbageCollector:
    """Owner references, foreground deletion and namespace termination."""

    def __init__(self, fake):
        self.fake, self.api, self.store = fake, fake.api, fake.store

    def _delete(self, res, obj, policy):
        try:
            self.api.delete(res, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                            {"propagationPolicy": policy})
        except ApiError:
            pass

    def tick(self):
        with self.store.lock:
            everything = [(res, o) for res in RESOURCES for o in self.store.items(res)]
            dependents = collections.defaultdict(list)
            for res, o in everything:
                for r in o["metadata"].get("ownerReferences") or []:
                    dependents[r.get("uid")].append((res, o))
            for res, o in everything:
                meta = o["metadata"]
                refs = meta.get("ownerReferences") or []
                dangling = [r for r in refs if r.get("uid") not in self.store.uids]
                if dangling and not meta.get("deletionTimestamp"):
                    if len(dangling) == len(refs):
                        self._delete(res, o, "Foreground" if dependents.get(meta["uid"]) else "Background")
                    else:
                        self.api.set_status(res, meta["uid"], lambda x: x["metadata"].__setitem__(
                            "ownerReferences", [r for r in refs if r not in dangling]))
            for res, o in everything:
                meta = o["metadata"]
                if not meta.get("deletionTimestamp") or self.store.by_uid(meta["uid"]) is None:
                    continue
                if res is NAMESPACES:
                    left = [(r, x) for r in RESOURCES if r.namespaced for x in self.store.items(r, meta["name"])]
                    for r, x in left:
                        if not x["metadata"].get("deletionTimestamp"):
                            self._delete(r, x, "Background")
                    if not left:
                        self.store.remove(NAMESPACES, self.store.by_uid(meta["uid"]))
                    continue
                fins = meta.get("finalizers") or []
                if "foregroundDeletion" in fins:
                    deps = [(r, x) for r, x in dependents.get(meta["uid"], [])
                            if self.store.by_uid(x["metadata"]["uid"]) is not None]
                    for r, x in deps:
                        if not x["metadata"].get("deletionTimestamp"):
                            self._delete(r, x, "Foreground" if dependents.get(x["metadata"]["uid"]) else "Background")
                    if deps:
                        continue
                    fins = [f for f in fins if f != "foregroundDeletion"]
                    cur = self.store.by_uid(meta["uid"])
                    new = copy.deepcopy(cur)
                    if fins:
                        new["metadata"]["finalizers"] = fins
                    else:
                        new["metadata"].pop("finalizers", None)
                    self.api._commit(res, cur, new, False)
                elif not fins and not self.api._busy(res, o):
                    self.store.remove(res, self.store.by_uid(meta["uid"]))


# ------------------------------------------------------ faults and stats

class Faults:
    DEFAULTS = {"taints": [], "pull_fail": [], "evict": [], "drop_watches": False, "expire_watches": False,
                "throttle": 0, "fail_next": 0}

    def __init__(self, fake):
        self.fake = fake
        self.data = copy.deepcopy(self.DEFAULTS)

    def get(self, key):
        return self.data.get(key)

    def snapshot(self):
        with self.fake.store.lock:
            return copy.deepcopy(self.data)

    def update(self, patch):
        if not isinstance(patch, dict):
            raise bad_request("faults must be a JSON object")
        for k, v in patch.items():
            if k not in self.DEFAULTS:
                raise bad_request(f'unknown fault "{k}"')
            if not isinstance(v, type(self.DEFAULTS[k])) or (isinstance(v, bool) and k in ("throttle", "fail_next")):
                raise bad_request(f'fault "{k}" must be a {type(self.DEFAULTS[k]).__name__}')
        store = self.fake.store
        with store.lock:
            for k, v in patch.items():
                self.data[k] = copy.deepcopy(v)
            if self.data["drop_watches"]:
                store.drop()
                self.data["drop_watches"] = False
            if self.data["expire_watches"]:
                store.expire()
                self.data["expire_watches"] = False
            if "taints" in patch:
                node = store.get(NODES, "", NODE_NAME)
                taints = [dict(t) for t in self.data["taints"]]

                def set_taints(n):
                    if taints:
                        n["spec"]["taints"] = taints
                    else:
                        n["spec"].pop("taints", None)
                self.fake.api.set_status(NODES, node["metadata"]["uid"], set_taints)
            return copy.deepcopy(self.data)

    def take(self, key):
        with self.fake.store.lock:
            if self.data[key] > 0:
                self.data[key] -= 1
                return True
            return False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = collections.Counter()
        self.total = 0
        self.max_running = 0
        self.running_now = 0
        self.watches = 0
        # What happened when, to the microsecond (API times have whole seconds): Jobs created,
        # containers started and their ends published; for benchmarks. Bounded.
        self.timeline = collections.deque(maxlen=100_000)

    def mark(self, what, **fields):
        with self.lock:
            self.timeline.append(dict(fields, event=what, time=time.time()))

    def request(self, key, extra=None):
        with self.lock:
            self.requests[key] += 1
            if extra:
                self.requests[extra] += 1
            self.total += 1

    def running(self, n):
        with self.lock:
            self.running_now = n
            self.max_running = max(self.max_running, n)

    def watch(self, delta):
        with self.lock:
            self.watches += delta

    def snapshot(self):
        with self.lock:
            return {"requests": dict(self.requests), "requests_total": self.total,
                    "max_running_pods": self.max_running, "running_pods": self.running_now,
                    "watches_open": self.watches}

    def timeline_snapshot(self):
        with self.lock:
            return {"events": list(self.timeline)}

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.total = 0
            self.max_running = self.running_now


# ------------------------------------------------------------------- HTTP

def encode(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-fake"
    sys_version = ""

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.fake.args.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    # --- plumbing

    def send_json(self, code, obj, headers=None):
        data = encode(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code, text, ctype="text/plain; charset=utf-8"):
        data = text if isinstance(text, bytes) else text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def client_gone(self):
        """True when the client closed its end of a streaming response."""
        conn = self.connection
        try:
            if not select.select([conn], [], [], 0)[0]:
                return False
            if not isinstance(conn, ssl.SSLSocket):
                return conn.recv(1, socket.MSG_PEEK) == b""
            conn.setblocking(False)
            try:
                return conn.recv(1) == b""
            except ssl.SSLWantReadError:
                return False
            finally:
                conn.setblocking(True)
        except (OSError, ValueError):
            return True

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts, size = [], 0
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(n))
                self.rfile.readline()
                size += n
                if size > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "Request entity too large")
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
        return self.rfile.read(n) if n else b""

    def authenticate(self):
        fake = self.server.fake
        if not fake.tokens and not fake.args.client_ca:
            return "anonymous"
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            given = auth[7:].strip()
            if any(hmac.compare_digest(given, t) for t in fake.tokens):
                return "token"
        if fake.args.client_ca and isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            for rdn in (cert or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        raise ApiError(401, "Unauthorized", "Unauthorized")

    @staticmethod
    def json_of(body):
        try:
            return json.loads(body.decode("utf-8") if body else "null")
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"the body of the request could not be decoded as JSON: {e}")

    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def dispatch(self, method):
        fake = self.server.fake
        try:
            body = self.read_body()
            url = urllib.parse.urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            self.authenticate()
            if path.startswith("/_fake/"):
                return self.control(method, path, body)
            if fake.faults.take("throttle"):
                raise ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                               {"retryAfterSeconds": 1}, {"Retry-After": "1"})
            if fake.faults.take("fail_next"):
                raise ApiError(500, "InternalError", "Internal error occurred: injected failure")
            self.route(method, path, params, body)
        except ApiError as e:
            self.send_json(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:
            traceback.print_exc()
            try:
                self.send_json(500, ApiError(500, "InternalError", f"Internal error occurred: {e}").status())
            except OSError:
                self.close_connection = True

    # --- control endpoints

    def control(self, method, path, body):
        fake = self.server.fake
        if path == "/_fake/faults" and method == "GET":
            return self.send_json(200, fake.faults.snapshot())
        if path == "/_fake/faults" and method == "POST":
            return self.send_json(200, fake.faults.update(self.json_of(body)))
        if path == "/_fake/stats" and method == "GET":
            return self.send_json(200, fake.stats.snapshot())
        if path == "/_fake/timeline" and method == "GET":
            return self.send_json(200, fake.stats.timeline_snapshot())
        if path == "/_fake/stats/reset" and method == "POST":
            fake.stats.reset()
            return self.send_json(200, fake.stats.snapshot())
        if path == "/_fake/clock" and method in ("GET", "POST"):
            if method == "POST":
                req = self.json_of(body)
                if not isinstance(req, dict):
                    raise bad_request('expected {"now": "RFC 3339 time"} or {"advanceSeconds": N}')
                try:
                    if "now" in req:
                        fake.clock.set(parse_time(str(req["now"])))
                    elif "advanceSeconds" in req:
                        fake.clock.offset += float(req["advanceSeconds"])
                    else:
                        raise ValueError("missing now")
                except (ValueError, TypeError) as e:
                    raise bad_request(f"bad clock request: {e}")
                with fake.store.lock:
                    fake.store.cond.notify_all()
            now = fake.clock.now()
            return self.send_json(200, {"now": datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
                                        .isoformat().replace("+00:00", "Z"), "offsetSeconds": fake.clock.offset})
        if path in ("/_fake/faults", "/_fake/stats", "/_fake/stats/reset", "/_fake/clock", "/_fake/timeline"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- API routing

    def parse_resource_path(self, path):
        for prefix, group in (("/api/v1/", ""), ("/apis/batch/v1/", "batch")):
            if path.startswith(prefix):
                segs = path[len(prefix):].split("/")
                break
        else:
            return None
        ns = None
        if segs[0] == "namespaces" and len(segs) >= 3 and (group or segs[2] not in ("status", "finalize")):
            ns, segs = segs[1], segs[2:]
        if len(segs) > 3 or not all(segs):
            return None
        res = BY_GROUP.get((group, segs[0]))
        name = segs[1] if len(segs) > 1 else None
        sub = segs[2] if len(segs) > 2 else None
        if res is None or (res.namespaced and ns is None and name is not None) or (not res.namespaced and ns):
            return None
        if sub is not None and sub not in res.subresources:
            return None
        return res, ns, name, sub

    def route(self, method, path, params, body):
        fake = self.server.fake
        discovery = {
            "/version": lambda: {"major": "1", "minor": GIT_VERSION.split(".")[1], "gitVersion": GIT_VERSION,
                                 "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2024-04-17T17:27:03Z",
                                 "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"},
            "/api": lambda: {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{fake.port}"}]},
            "/apis": lambda: {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self.batch_group()]},
            "/apis/batch": lambda: dict(self.batch_group(), kind="APIGroup", apiVersion="v1"),
            "/api/v1": lambda: resource_list(""),
            "/apis/batch/v1": lambda: resource_list("batch"),
            "/openapi/v3": openapi_index,
            "/openapi/v3/api/v1": lambda: openapi_v3(""),
            "/openapi/v3/apis/batch/v1": lambda: openapi_v3("batch"),
        }
        if path in ("/healthz", "/readyz", "/livez") or path.startswith(("/healthz/", "/readyz/", "/livez/")):
            fake.stats.request(f"{method} {path}")
            return self.send_text(200, "ok")
        if path == "/openapi/v2" and method == "GET":
            fake.stats.request(f"{method} {path}")
            return self.send_text(200, openapi_v2_protobuf(),
                                  "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        if path in discovery:
            fake.stats.request(f"{method} {path}")
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return self.send_json(200, discovery[path]())
        parsed = self.parse_resource_path(path)
        if parsed is None:
            fake.stats.request(f"{method} {path}")
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
        res, ns, name, sub = parsed
        watch = params.get("watch") in ("true", "1")
        key = f"{method} {res.plural}" + (f"/{sub}" if sub else "")
        fake.stats.request(key, f"WATCH {res.plural}" if watch and method == "GET" else None)
        verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}.get(method)
        if verb is None or (sub is None and verb not in res.verbs) or (verb == "create" and name) or \
                (method in ("PUT", "PATCH") and not name) or \
                (sub and (method not in ("GET", "PUT", "PATCH") or (sub == "log" and method != "GET")
                          or (res is NODES and method != "GET"))):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           {"name": name or "", "kind": res.plural})
        dry_run = params.get("dryRun") == "All"
        api, warnings = fake.api, []
        fv = params.get("fieldValidation") or "Warn"
        if method == "GET":
            if watch:
                return self.serve_watch(res, ns, params)
            if sub == "log":
                return self.serve_log(ns, name, params)
            if name is None:
                lst = api.list(res, ns, params)
                if self.wants_table():
                    return self.send_json(200, make_table(res, lst["items"], params.get("includeObject", "Metadata"),
                                                          fake.clock.now(), lst["metadata"]["resourceVersion"]))
                return self.send_json(200, lst)
            obj = api.get(res, ns, name)
            if self.wants_table():
                return self.send_json(200, make_table(res, [obj], params.get("includeObject", "Metadata"),
                                                      fake.clock.now(), obj["metadata"]["resourceVersion"]))
            return self.send_json(200, obj)
        if method in ("POST", "PUT"):
            if self.content_type() not in ("", "application/json", "*/*"):
                raise self.unsupported(["application/json"])
            obj = self.json_of(body)
            fake.check_fields(res, obj, fv, warnings)
            if method == "POST":
                out, code = api.create(res, ns, obj, dry_run), 201
            else:
                out, code = api.update(res, ns, name, obj, sub, dry_run), 200
            return self.send_json(code, out, self.warning_headers(warnings))
        if method == "PATCH":
            ctype = self.content_type()
            kinds = ["application/json-patch+json", "application/merge-patch+json",
                     "application/strategic-merge-patch+json"]
            if ctype not in kinds:
                raise self.unsupported(kinds)
            patch = self.json_of(body)
            if ctype != kinds[0]:
                fake.check_fields(res, merge_patch({}, patch, True) if isinstance(patch, dict) else patch, fv,
                                  warnings)
            out = api.patch(res, ns, name, ctype, patch, sub, dry_run)
            if ctype == kinds[0]:
                fake.check_fields(res, out, fv, warnings)
            return self.send_json(200, out, self.warning_headers(warnings))
        opts = self.json_of(body) if body.strip() else {}
        if not isinstance(opts, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        for k in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
            if k in params:
                opts[k] = params[k] if k != "orphanDependents" else params[k] in ("true", "1")
        dry_run = dry_run or "All" in (opts.get("dryRun") or [])
        if name is None:
            return self.send_json(200, api.delete_collection(res, ns, params, opts, dry_run))
        return self.send_json(200, api.delete(res, ns, name, opts, dry_run))

    @staticmethod
    def batch_group():
        gv = {"groupVersion": "batch/v1", "version": "v1"}
        return {"name": "batch", "versions": [gv], "preferredVersion": gv}

    @staticmethod
    def unsupported(kinds):
        return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                        "media types include: " + ", ".join(kinds))

    @staticmethod
    def warning_headers(warnings):
        if not warnings:
            return None
        return {"Warning": ", ".join('299 - "%s"' % w.replace("\\", "\\\\").replace('"', '\\"') for w in warnings)}

    # --- watch

    def serve_watch(self, res, ns, params):
        fake, store = self.server.fake, self.server.fake.store
        lsel = LabelSelector(params.get("labelSelector", ""))
        fsel = FieldSelector(params.get("fieldSelector", ""), res.plural)
        timeout = params.get("timeoutSeconds")
        deadline = time.monotonic() + float(timeout) if timeout else None
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        table = self.wants_table()
        include = params.get("includeObject", "Metadata")
        rv = params.get("resourceVersion", "")

        def match(o):
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and \
                lsel.matches(o["metadata"].get("labels")) and fsel.matches(o)

        def send(etype, obj):
            if table and etype != "ERROR":
                obj = make_table(res, [obj], include, fake.clock.now())
            self.chunk(encode({"type": etype, "object": obj}) + b"\n")

        def expired(pos):
            return ApiError(410, "Expired", f"too old resource version: {pos} ({max(store.floor, 1)})").status()

        with store.lock:
            drop, expire = store.drop_epoch, store.expire_epoch
            if rv in ("", "0"):
                pos, initial, too_old = store.rv, [o for o in store.items(res, ns) if match(o)], False
            else:
                try:
                    pos = int(rv)
                except ValueError:
                    raise bad_request(f'invalid resource version "{rv}"')
                initial, too_old = [], pos < store.floor
        self.start_stream("application/json")
        if too_old:
            send("ERROR", expired(pos))
            return self.end_stream()
        fake.stats.watch(1)
        try:
            for o in initial:
                send("ADDED", o)
            last_write = time.monotonic()
            while True:
                action, events = None, []
                with store.lock:
                    while action is None:
                        if store.drop_epoch != drop:
                            action = "drop"
                        elif store.expire_epoch != expire or pos < store.floor:
                            action = "expire"
                        elif store.rv > pos:
                            for ev in reversed(store.history):
                                if ev[0] <= pos:
                                    break
                                if ev[2] == res.plural:
                                    events.append(ev)
                            events.reverse()
                            pos, action = store.rv, "events"
                        else:
                            now = time.monotonic()
                            if deadline is not None and now >= deadline:
                                action = "timeout"
                            elif bookmarks and now - last_write >= BOOKMARK_EVERY:
                                action = "bookmark"
                            else:
                                wait = 1.0 if deadline is None else max(0.01, min(1.0, deadline - now))
                                store.cond.wait(wait)
                                if self.client_gone() or fake.stopping.is_set():
                                    action = "gone"
                if action == "events":
                    for _rv, etype, _plural, obj, old in events:
                        now_match = match(obj)
                        was_match = match(old)
                        if etype == "ADDED" and now_match:
                            send("ADDED", obj)
                        elif etype == "DELETED" and now_match:
                            send("DELETED", obj)
                        elif etype == "MODIFIED":
                            if now_match:
                                send("MODIFIED" if was_match else "ADDED", obj)
                            elif was_match:
                                send("DELETED", obj)
                    last_write = time.monotonic() if events else last_write
                elif action == "bookmark":
                    send("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version,
                                      "metadata": {"resourceVersion": str(pos)}})
                    last_write = time.monotonic()
                elif action == "expire":
                    send("ERROR", expired(pos))
                    break
                elif action in ("drop", "gone"):
                    self.close_connection = True
                    break
                else:
                    break
            if action != "gone":
                self.end_stream()
        finally:
            fake.stats.watch(-1)

    # --- logs

    def serve_log(self, ns, name, params):
        fake = self.server.fake
        pod = fake.api.get(PODS, ns, name)
        names = [c.get("name") for c in dig(pod, "spec", "containers", default=[])]
        cname = params.get("container")
        if not cname:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]")
            cname = names[0]
        elif cname not in names:
            raise bad_request(f"container {cname} is not valid for pod {name}")
        runs = fake.kubelet.log_runs(pod["metadata"]["uid"], cname)
        if params.get("previous") in ("true", "1"):
            if len(runs) < 2:
                raise bad_request(f'previous terminated container "{cname}" in pod "{name}" not found')
            run = runs[-2]
        elif not runs:
            if not dig(pod, "spec", "nodeName"):
                raise bad_request(f"pod {name} does not have a host assigned")
            cs = next((c for c in dig(pod, "status", "containerStatuses", default=[]) if c.get("name") == cname), {})
            reason = dig(cs, "state", "waiting", "reason") or "ContainerCreating"
            raise bad_request(f'container "{cname}" in pod "{name}" is waiting to start: {reason}')
        else:
            run = runs[-1]
        follow = params.get("follow") in ("true", "1") and params.get("previous") not in ("true", "1")
        try:
            tail = int(params["tailLines"]) if params.get("tailLines") else None
            limit = int(params["limitBytes"]) if params.get("limitBytes") else None
        except ValueError:
            raise bad_request("tailLines and limitBytes must be integers")
        render = LogRenderer(params.get("timestamps") in ("true", "1"))
        try:
            f = open(run["path"], "rb")
        except FileNotFoundError:
            f = None
        head = render.feed(f.read()) if f else b""
        if tail is not None:
            head = b"".join(head.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
        sent = 0

        def clip(data):
            nonlocal sent
            if limit is not None:
                data = data[:max(0, limit - sent)]
            sent += len(data)
            return data
        if not follow:
            if f:
                f.close()
            return self.send_text(200, clip(head))
        self.start_stream("text/plain")
        store = fake.store
        try:
            self.chunk(clip(head))
            while limit is None or sent < limit:
                with store.lock:
                    done = run["done"]
                if f is None and os.path.exists(run["path"]):
                    f = open(run["path"], "rb")
                data = render.feed(f.read()) if f else b""
                self.chunk(clip(data))
                if done and not data:
                    break
                if not data:
                    with store.lock:
                        store.cond.wait(0.25)
                    if self.client_gone() or fake.stopping.is_set():
                        self.close_connection = True
                        return
            self.chunk(clip(render.feed(b"\n")) if render.buf else b"")
            self.end_stream()
        finally:
            if f:
                f.close()


# ------------------------------------------------------------------- main

class Fake:
    """Everything one server instance holds."""

    def __init__(self, args):
        self.args = args
        self.port = 0
        self.tokens = list(args.token or [])
        self.clock = Clock()
        self.store = Store(args.history)
        self.stopping = threading.Event()
        self.stats = Stats()
        self.faults = Faults(self)
        self.api = Api(self)
        self.kubelet = Kubelet(self)
        self.schema = Schema(args.swagger) if args.swagger else None
        self.controllers = [self.kubelet, JobController(self), CronJobController(self), GarbageCollector(self)]
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.api.create(NAMESPACES, None, {"metadata": {"name": ns}})
        with self.store.lock:
            node = self.kubelet.node_object()
            node["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=fmt_time(self.clock.now()))
            self.store.add(NODES, node)

    def check_fields(self, res, obj, mode, warnings):
        if self.schema is None or mode == "Ignore" or not isinstance(obj, dict):
            return
        unknown = self.schema.unknown_fields(res.kind, strip_directives(obj))
        if not unknown:
            return
        if mode == "Strict":
            raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        warnings.extend(f'unknown field "{u}"' for u in unknown)

    def run_controllers(self):
        while not self.stopping.is_set():
            for c in self.controllers:
                try:
                    c.tick()
                except Exception:
                    traceback.print_exc()
            self.stopping.wait(TICK)


def strip_directives(value):
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--token", action="append", default=[])
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-ca")
    p.add_argument("--service-account-token")
    p.add_argument("--cluster-ca")
    p.add_argument("--podman", default="podman")
    p.add_argument("--node-cpu", type=float)
    p.add_argument("--node-memory", type=float)
    p.add_argument("--node-gpus", type=int, default=0)
    p.add_argument("--swagger")
    p.add_argument("--history", type=int, default=1000)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        p.error("--client-ca needs --tls-cert and --tls-key")
    return args


def main(argv=None):
    args = parse_args(argv)
    args.state_dir = os.path.abspath(args.state_dir)
    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(args)
    fake.kubelet.reap_orphans()
    server = Server((args.host, args.port), Handler)
    server.fake = fake
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])
        if args.client_ca:
            ctx.load_verify_locations(args.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    fake.port = server.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    threading.Thread(target=fake.run_controllers, daemon=True).start()
    tmp = f"{args.port_file}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{fake.port}\n")
    os.replace(tmp, args.port_file)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        fake.stopping.set()
        server.shutdown()
        fake.kubelet.cleanup()
        for root, _dirs, files in os.walk(fake.kubelet.pod_root):
            for name in files:
                if name.endswith(".env"):
                    try:
                        os.unlink(os.path.join(root, name))
                    except OSError:
                        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
