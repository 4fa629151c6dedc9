#!/usr/bin/env python3
"""REST-level checks of kube_fake.py, run by selftest.sh against a running server.

Usage: api_checks.py --url https://127.0.0.1:PORT --token T [--cacert CA] [--strict]
Prints one line per check and exits 1 when any check failed.
"""
import argparse
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

NS = "/api/v1/namespaces/default"
BATCH = "/apis/batch/v1/namespaces/default"
BUSYBOX = "localhost/baton-base:busybox"


class Client:
    def __init__(self, url, token, cacert):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.tls = u.hostname, u.port, u.scheme == "https"
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cacert) if self.tls else None

    def conn(self, timeout=60):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, extra=None):
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(extra or {})
        return h

    def req(self, method, path, body=None, ctype="application/json"):
        c = self.conn()
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        c.request(method, path, body=data, headers=self.headers({"Content-Type": ctype}))
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            return r.status, (json.loads(raw) if raw else None), r
        except ValueError:
            return r.status, raw.decode(), r

    def get(self, path):
        s, o, _ = self.req("GET", path)
        return o if s == 200 else None


class Watch:
    """Reads a watch stream in the background."""

    def __init__(self, client, path):
        self.events, self.done = [], False
        self.c = client.conn()
        self.c.request("GET", path, headers=client.headers())
        self.r = self.c.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in iter(self.r.readline, b""):
                self.events.append(json.loads(line))
        except Exception:
            pass
        self.done = True

    def find(self, pred, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            for e in list(self.events):
                if pred(e):
                    return e
            time.sleep(0.05)
        return None

    def close(self):
        try:
            self.c.sock.shutdown(2)
        except (OSError, AttributeError):
            pass
        self.c.close()


def wait_until(fn, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    return None


class Checks:
    def __init__(self, client, strict):
        self.k, self.strict, self.failed = client, strict, []

    def check(self, name, ok, info=""):
        print(("ok    " if ok else "FAIL  ") + "[api] " + name + ("" if ok else f"\n      | {str(info)[:500]}"))
        if not ok:
            self.failed.append(name)

    # --- helpers

    def pod(self, name, cmd="echo hi", image=BUSYBOX, container=None, **spec):
        c = {"name": "main", "image": image, "command": ["sh", "-c", cmd]}
        c.update(container or {})
        body = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [c]}
        body.update(spec)
        s, o, _ = self.k.req("POST", NS + "/pods", {"metadata": {"name": name}, "spec": body})
        if s != 201:
            self.check(f"create pod {name}", False, o)

    def pod_where(self, name, pred, timeout=30):
        def probe():
            p = self.k.get(f"{NS}/pods/{name}")
            return p if p and pred(p) else None
        return wait_until(probe, timeout)

    def pod_phase(self, name, phases=("Succeeded", "Failed"), timeout=40):
        return self.pod_where(name, lambda p: p["status"].get("phase") in phases, timeout)

    def waiting(self, p):
        return ((p["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}

    def job(self, name, cmd="echo x", **spec):
        body = {"template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [
            {"name": "main", "image": BUSYBOX, "command": ["sh", "-c", cmd]}]}}}
        body.update(spec)
        s, o, _ = self.k.req("POST", BATCH + "/jobs", {"metadata": {"name": name}, "spec": body})
        if s != 201:
            self.check(f"create job {name}", False, o)
        return o

    def job_pods(self, name):
        return self.k.get(f"{NS}/pods?labelSelector=job-name%3D{name}")["items"]

    # --- checks

    def crud(self):
        k, check = self.k, self.check
        s, o, _ = k.req("POST", NS + "/configmaps", {"metadata": {"generateName": "cm-"}, "data": {"k": "v"}})
        check("generateName", s == 201 and o["metadata"]["name"].startswith("cm-") and len(o["metadata"]["name"]) == 8, o)
        name = o["metadata"]["name"]
        meta = o["metadata"]
        check("metadata filled in", meta.get("uid") and meta["creationTimestamp"].endswith("Z")
              and meta["resourceVersion"].isdigit() and meta["namespace"] == "default", meta)
        s, o, _ = k.req("POST", NS + "/configmaps", {"metadata": {"name": name}})
        check("409 AlreadyExists", s == 409 and o["reason"] == "AlreadyExists", o)
        s, o, _ = k.req("POST", BATCH + "/jobs", {"metadata": {"name": "Bad_Name"}, "spec": {}})
        check("422 invalid name", s == 422 and o["reason"] == "Invalid" and "RFC 1123" in o["message"], o)
        tmpl = {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "x"}]}}}
        s, o, _ = k.req("POST", BATCH + "/jobs", {"metadata": {"name": "always"}, "spec": tmpl})
        check("422 restartPolicy Always in a Job", s == 422 and 'Unsupported value: "Always"' in o["message"], o)
        s, o, _ = k.req("POST", BATCH + "/jobs", {"metadata": {"name": "j" * 64}, "spec": {}})
        check("422 job name longer than 63", s == 422 and "no more than 63 characters" in o["message"], o)
        s, o, _ = k.req("POST", NS + "/configmaps", "{not json")
        check("400 bad JSON", s == 400 and o["reason"] == "BadRequest", o)
        s, o, _ = k.req("GET", "/api/v1/nothing")
        check("404 unknown path", s == 404 and o["kind"] == "Status", o)
        s, o, _ = k.req("PUT", NS + "/configmaps", {})
        check("405 PUT on a collection", s == 405 and o["reason"] == "MethodNotAllowed", o)
        s, o, _ = k.req("POST", NS + "/configmaps", "x", "text/plain")
        check("415 unsupported media type", s == 415 and o["reason"] == "UnsupportedMediaType", o)

        cur = k.get(f"{NS}/configmaps/{name}")
        stale = json.loads(json.dumps(cur))
        cur["data"]["k"] = "v2"
        s, o, _ = k.req("PUT", f"{NS}/configmaps/{name}", cur)
        check("PUT", s == 200 and o["data"]["k"] == "v2"
              and int(o["metadata"]["resourceVersion"]) > int(cur["metadata"]["resourceVersion"]), o)
        stale["data"]["k"] = "v3"
        s, o, _ = k.req("PUT", f"{NS}/configmaps/{name}", stale)
        check("409 Conflict on a stale resourceVersion", s == 409 and o["reason"] == "Conflict", o)

        path = f"{NS}/configmaps/{name}"
        s, o, _ = k.req("PATCH", path, {"data": {"n": "1"}, "metadata": {"labels": {"a": "b"}}},
                        "application/merge-patch+json")
        check("merge patch", s == 200 and o["data"] == {"k": "v2", "n": "1"} and o["metadata"]["labels"] == {"a": "b"}, o)
        s, o, _ = k.req("PATCH", path, {"data": {"n": None, "s": "2"}}, "application/strategic-merge-patch+json")
        check("strategic merge patch", s == 200 and o["data"] == {"k": "v2", "s": "2"}, o)
        ops = [{"op": "add", "path": "/data/j", "value": "3"}, {"op": "replace", "path": "/data/k", "value": "r"},
               {"op": "remove", "path": "/data/s"}]
        s, o, _ = k.req("PATCH", path, ops, "application/json-patch+json")
        check("json patch", s == 200 and o["data"] == {"k": "r", "j": "3"}, o)
        s, o, _ = k.req("PATCH", path, [{"op": "remove", "path": "/data/zz"}], "application/json-patch+json")
        check("json patch on a missing path: 422", s == 422, o)
        s, o, _ = k.req("DELETE", path)
        check("DELETE returns the object", s == 200 and o["metadata"]["name"] == name, o)
        if self.strict:
            s, o, _ = k.req("POST", NS + "/pods?fieldValidation=Strict", {"metadata": {"name": "strict"}, "spec": {
                "containers": [{"name": "m", "image": "x", "foo": 1}]}})
            check("fieldValidation=Strict", s == 400 and o["message"] ==
                  'strict decoding error: unknown field "spec.containers[0].foo"', o)

    def selectors(self):
        k, check = self.k, self.check
        for i, labels in enumerate([{"app": "a", "env": "prod"}, {"app": "b", "env": "dev"}, {"app": "c"}]):
            k.req("POST", NS + "/configmaps", {"metadata": {"name": f"sel{i}", "labels": labels}})

        def names(query):
            o = k.get(f"{NS}/configmaps?{query}")
            return sorted(i["metadata"]["name"] for i in o["items"]) if o else None
        q = urllib.parse.quote
        for sel, want in (("app=a", ["sel0"]), ("env==dev", ["sel1"]), ("app!=a,app", ["sel1", "sel2"]),
                          ("app in (a, c)", ["sel0", "sel2"]), ("app,app notin (a)", ["sel1", "sel2"]),
                          ("app,!env", ["sel2"])):
            got = names("labelSelector=" + q(sel))
            check(f"labelSelector {sel}", got == want, got)
        got = names("fieldSelector=" + q("metadata.name!=sel1") + "&labelSelector=app")
        check("fieldSelector !=", got == ["sel0", "sel2"], got)
        s, o, _ = k.req("GET", NS + "/configmaps?fieldSelector=spec.foo%3Dbar")
        check("unsupported field label: 400", s == 400, o)
        first = k.get(NS + "/configmaps?limit=2&labelSelector=app")
        token = q(first["metadata"].get("continue", ""))
        second = k.get(f"{NS}/configmaps?limit=2&labelSelector=app&continue={token}")
        check("limit and continue", len(first["items"]) == 2 and first["metadata"].get("remainingItemCount") == 1
              and len(second["items"]) == 1 and first["kind"] == "ConfigMapList", (first["metadata"], second))
        o = k.get("/api/v1/configmaps?labelSelector=app")
        check("list across namespaces", o and len(o["items"]) == 3, o)
        s, o, _ = k.req("DELETE", NS + "/configmaps?labelSelector=app")
        check("deletecollection", s == 200 and len(o["items"]) == 3 and names("labelSelector=app") == [], o)

    def watches(self, bookmark_watch):
        k, check = self.k, self.check
        bm = bookmark_watch.find(lambda e: e["type"] == "BOOKMARK", 15)
        check("BOOKMARK carries only kind, apiVersion and resourceVersion",
              bm and sorted(bm["object"]) == ["apiVersion", "kind", "metadata"]
              and list(bm["object"]["metadata"]) == ["resourceVersion"], bm)
        bookmark_watch.close()
        rv0 = k.get(NS + "/configmaps")["metadata"]["resourceVersion"]
        w = Watch(k, f"{NS}/configmaps?watch=true&resourceVersion={rv0}&labelSelector=w%3D1")
        k.req("POST", NS + "/configmaps", {"metadata": {"name": "w1", "labels": {"w": "1"}}})
        k.req("POST", NS + "/configmaps", {"metadata": {"name": "w2", "labels": {"w": "2"}}})
        merge = "application/merge-patch+json"
        k.req("PATCH", NS + "/configmaps/w1", {"data": {"a": "b"}}, merge)
        k.req("PATCH", NS + "/configmaps/w2", {"metadata": {"labels": {"w": "1"}}}, merge)
        k.req("PATCH", NS + "/configmaps/w1", {"metadata": {"labels": {"w": "0"}}}, merge)
        k.req("DELETE", NS + "/configmaps/w2")
        w.find(lambda e: e["type"] == "DELETED" and e["object"]["metadata"]["name"] == "w2")
        seq = [(e["type"], e["object"]["metadata"]["name"]) for e in w.events]
        check("watch from a resourceVersion with a label selector", seq == [
            ("ADDED", "w1"), ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1"), ("DELETED", "w2")], seq)
        w.close()
        w = Watch(k, NS + "/configmaps?watch=1")
        check("watch without resourceVersion starts with ADDED",
              w.find(lambda e: e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "w1", 5) is not None)
        w.close()
        w = Watch(k, f"{NS}/configmaps?watch=1&timeoutSeconds=1&resourceVersion={rv0}")
        check("timeoutSeconds ends the stream", wait_until(lambda: w.done, 5))

        w = Watch(k, f"{NS}/configmaps?watch=1&resourceVersion={rv0}")
        time.sleep(0.3)
        stats = k.get("/_fake/stats")
        check("stats count open watches", stats["watches_open"] >= 1, stats)
        k.req("POST", "/_fake/faults", {"drop_watches": True})
        check("drop_watches closes streams without an event",
              wait_until(lambda: w.done, 5) and not any(e["type"] == "ERROR" for e in w.events))
        check("drop_watches resets", k.get("/_fake/faults")["drop_watches"] is False)
        w = Watch(k, f"{NS}/configmaps?watch=1&resourceVersion={rv0}")
        time.sleep(0.3)
        k.req("POST", "/_fake/faults", {"expire_watches": True})
        e = w.find(lambda e: e["type"] == "ERROR", 5)
        check("expire_watches: ERROR 410 Expired, then the end",
              e and e["object"]["code"] == 410 and e["object"]["reason"] == "Expired"
              and e["object"]["message"].startswith("too old resource version: ") and wait_until(lambda: w.done, 5), e)
        w = Watch(k, f"{NS}/configmaps?watch=1&resourceVersion={rv0}")
        e = w.find(lambda e: e["type"] == "ERROR", 5)
        check("watch from an expired resourceVersion: 410", e and e["object"]["code"] == 410, w.events)

    def faults(self):
        k, check = self.k, self.check
        k.req("POST", "/_fake/faults", {"throttle": 2})
        (s1, o1, r1), (s2, _, _), (s3, _, _) = (k.req("GET", NS + "/configmaps") for _ in range(3))
        check("throttle: 429 with Retry-After", (s1, s2, s3) == (429, 429, 200) and r1.getheader("Retry-After") == "1"
              and o1["reason"] == "TooManyRequests", (s1, s2, s3, o1))
        k.req("POST", "/_fake/faults", {"fail_next": 1})
        (s1, o1, _), (s2, _, _) = (k.req("GET", NS + "/configmaps") for _ in range(2))
        check("fail_next: 500", (s1, s2) == (500, 200) and o1["reason"] == "InternalError", o1)

    def scheduling(self):
        k, check = self.k, self.check
        def unschedulable(name):
            p = self.pod_where(name, lambda p: any(c.get("reason") == "Unschedulable"
                                                   for c in p["status"].get("conditions", [])), 10)
            return p and p["status"]["conditions"][0]["message"]
        self.pod("big", container={"resources": {"requests": {"memory": "100Ti"}}})
        self.pod("picky", nodeSelector={"disk": "ssd"})
        big, picky = unschedulable("big"), unschedulable("picky")
        k.req("POST", "/_fake/faults", {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]})
        self.pod("tainted")
        self.pod("tolerant", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                           "effect": "NoSchedule"}])
        msg = big
        check("Unschedulable: Insufficient memory", msg == "0/1 nodes are available: 1 Insufficient memory.", msg)
        ev = k.get(NS + "/events?fieldSelector=" + urllib.parse.quote("involvedObject.name=big,reason=FailedScheduling"))
        check("FailedScheduling event", ev and ev["items"] and ev["items"][0]["type"] == "Warning", ev)
        s, o, _ = k.req("GET", NS + "/pods/big/log")
        check("log of an unscheduled pod: 400", s == 400, o)
        msg = picky
        check("Unschedulable: node selector",
              msg == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", msg)
        msg = unschedulable("tainted")
        check("Unschedulable: taint",
              msg == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.", msg)
        check("toleration lets a pod run", self.pod_phase("tolerant") is not None)
        node = k.get("/api/v1/nodes/fake-node")
        check("node shows the taint", node["spec"].get("taints") == [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], node["spec"])
        k.req("POST", "/_fake/faults", {"taints": []})
        check("pod starts once the taint is gone", self.pod_phase("tainted") is not None)
        s, o, _ = k.req("GET", NS + "/pods/tainted/log")
        check("pods/log", s == 200 and o == "hi\n", o)
        for name in ("big", "picky"):
            k.req("DELETE", f"{NS}/pods/{name}")

    def config_errors(self):
        k, check = self.k, self.check
        env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "a"}}},
               {"name": "B", "value": "b-$(A)"},
               {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        self.pod("cfg", cmd="echo $A $B $C $N", container={"env": env, "envFrom": [{"configMapRef": {"name": "cm"}}]})
        p = self.pod_where("cfg", lambda p: self.waiting(p).get("reason") == "CreateContainerConfigError", 10)
        check("CreateContainerConfigError for a missing configmap",
              p and self.waiting(p).get("message") == 'configmap "cm" not found', p and p["status"])
        s, o, _ = k.req("GET", NS + "/pods/cfg/log")
        check("log of a waiting container: 400", s == 400 and o["message"] ==
              'container "main" in pod "cfg" is waiting to start: CreateContainerConfigError', o)
        k.req("POST", NS + "/configmaps", {"metadata": {"name": "cm"}, "data": {"C": "from-cm"}})
        p = self.pod_where("cfg", lambda p: self.waiting(p).get("message") == 'secret "sec" not found', 10)
        check("then a missing secret", p is not None)
        k.req("POST", NS + "/secrets", {"metadata": {"name": "sec"}, "stringData": {"z": "1"}})
        p = self.pod_where("cfg", lambda p: "couldn't find key" in self.waiting(p).get("message", ""), 10)
        check("then a missing key", p and self.waiting(p)["message"] == "couldn't find key a in Secret default/sec",
              p and p["status"])
        s, o, _ = k.req("PATCH", NS + "/secrets/sec", {"stringData": {"a": "secret-A"}}, "application/merge-patch+json")
        check("stringData is merged into data", s == 200 and "stringData" not in o and o["data"]["a"] == "c2VjcmV0LUE=", o)
        p = self.pod_phase("cfg")
        s, o, _ = k.req("GET", NS + "/pods/cfg/log")
        check("starts once the secret exists, env resolved", p and o == "secret-A b-secret-A from-cm cfg\n", o)

    def pull_and_evict(self):
        k, check = self.k, self.check
        k.req("POST", "/_fake/faults", {"pull_fail": ["baton-base"]})
        self.pod("pull", cmd="sleep 30")
        p = self.pod_where("pull", lambda p: self.waiting(p).get("reason") == "ErrImagePull", 15)
        check("ErrImagePull", p and "manifest unknown" in self.waiting(p).get("message", ""), p and p["status"])
        p = self.pod_where("pull", lambda p: self.waiting(p).get("reason") == "ImagePullBackOff", 15)
        check("ImagePullBackOff", p and self.waiting(p)["message"] == f'Back-off pulling image "{BUSYBOX}"',
              p and p["status"])
        k.req("POST", "/_fake/faults", {"pull_fail": [], "evict": ["pull"]})
        p = self.pod_phase("pull", ("Running",), 30)
        check("the pull is retried", p is not None)
        p = self.pod_phase("pull", ("Failed",), 20)
        t = p and p["status"]["containerStatuses"][0]["state"].get("terminated", {})
        check("eviction", p and p["status"].get("reason") == "Evicted"
              and p["status"]["message"] == "The node was low on resource: memory."
              and t.get("exitCode") == 137 and t.get("reason") == "Error", p and p["status"])

    def containers(self):
        k, check = self.k, self.check
        k.req("POST", NS + "/secrets", {"metadata": {"name": "vs"}, "stringData": {"pw": "s3cret", "multi": "l1\nl2"}})
        k.req("POST", NS + "/configmaps", {"metadata": {"name": "vc"}, "data": {"conf.ini": "x=1"}})
        host = tempfile.mkdtemp(prefix="kube-fake-hostpath-")
        os.chmod(host, 0o755)
        with open(os.path.join(host, "f.txt"), "w") as f:
            f.write("from host")
        vols = [{"name": "e", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "vs"}},
                {"name": "c", "configMap": {"name": "vc", "items": [{"key": "conf.ini", "path": "app/conf.ini"}]}},
                {"name": "h", "hostPath": {"path": host}}]
        mounts = [{"name": "e", "mountPath": "/e"}, {"name": "s", "mountPath": "/s"}, {"name": "c", "mountPath": "/c"},
                  {"name": "h", "mountPath": "/h", "readOnly": True}]
        script = ('id -u; pwd; echo hi > /e/x && cat /e/x; cat /s/pw; echo; cat /c/app/conf.ini; echo; '
                  'cat /h/f.txt; echo; echo "$MULTI"; touch /s/no 2>/dev/null || echo ro')
        self.pod("vols", cmd=script, volumes=vols, securityContext={"runAsUser": 1000}, container={
            "workingDir": "/work", "volumeMounts": mounts,
            "env": [{"name": "MULTI", "valueFrom": {"secretKeyRef": {"name": "vs", "key": "multi"}}}],
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}})
        self.pod("tm", cmd="echo done > /dev/termination-log; exit 3")
        self.pod("tm2", cmd="echo out1; echo err1 >&2; exit 4", container={"terminationMessagePolicy": "FallbackToLogsOnError"})
        self.pod("pdl", cmd="sleep 30", activeDeadlineSeconds=2)
        s, o, _ = k.req("POST", NS + "/pods", {"metadata": {"name": "onf"}, "spec": {
            "restartPolicy": "OnFailure", "volumes": [{"name": "e", "emptyDir": {}}], "containers": [{
                "name": "main", "image": BUSYBOX, "volumeMounts": [{"name": "e", "mountPath": "/e"}],
                "command": ["sh", "-c", "echo run; [ -f /e/ok ] && exit 0; touch /e/ok; exit 2"]}]}})

        p = self.pod_phase("vols")
        s, out, _ = k.req("GET", NS + "/pods/vols/log")
        check("volumes, runAsUser, workingDir, multi-line env",
              out == "1000\n/work\nhi\ns3cret\nx=1\nfrom host\nl1\nl2\nro\n", (out, p and p["status"]))
        check("requests default to limits; qosClass", p and p["status"]["qosClass"] == "Guaranteed"
              and p["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"})
        p = self.pod_phase("tm")
        t = p and p["status"]["containerStatuses"][0]["state"]["terminated"]
        check("termination message", t and t.get("message") == "done\n" and (t["exitCode"], t["reason"]) == (3, "Error"), t)
        p = self.pod_phase("tm2")
        t = p and p["status"]["containerStatuses"][0]["state"]["terminated"]
        check("FallbackToLogsOnError", t and t.get("message") == "out1\nerr1\n", t)
        for query, want in (("tailLines=1", "err1\n"), ("limitBytes=3", "out")):
            s, o, _ = k.req("GET", f"{NS}/pods/tm2/log?{query}")
            check(f"pods/log {query}", o == want, o)
        s, o, _ = k.req("GET", NS + "/pods/tm2/log?timestamps=true")
        check("pods/log timestamps", isinstance(o, str) and o.split(" ")[0].endswith("Z")
              and o.split(" ", 1)[1].startswith("out1"), o)
        p = self.pod_phase("onf")
        cs = p and p["status"]["containerStatuses"][0]
        check("restartPolicy OnFailure restarts in place", p and p["status"]["phase"] == "Succeeded"
              and cs["restartCount"] == 1 and cs["lastState"]["terminated"]["exitCode"] == 2, p and p["status"])
        s, o, _ = k.req("GET", NS + "/pods/onf/log?previous=true")
        check("pods/log previous", o == "run\n", o)
        p = self.pod_phase("pdl")
        check("pod activeDeadlineSeconds", p and p["status"]["phase"] == "Failed"
              and p["status"].get("reason") == "DeadlineExceeded", p and p["status"])

        self.pod("fol", cmd="for i in 1 2 3; do echo n$i; sleep 1; done; printf tail")
        self.pod_phase("fol", ("Running",))
        c = k.conn()
        c.request("GET", NS + "/pods/fol/log?follow=true", headers=k.headers())
        r = c.getresponse()
        t0 = time.time()
        first = r.read1(100)
        t1 = time.time()
        rest = r.read()
        check("log follow streams as the container writes and ends with it",
              r.getheader("Transfer-Encoding") == "chunked" and first.startswith(b"n1") and t1 - t0 < 1.5
              and first + rest == b"n1\nn2\nn3\ntail", (first, rest, t1 - t0))

        self.pod("grace", cmd="sleep 100")
        self.pod("force", cmd="sleep 100")
        self.pod_phase("grace", ("Running",))
        self.pod_phase("force", ("Running",))
        s, o, _ = k.req("DELETE", NS + "/pods/force?gracePeriodSeconds=0")
        check("gracePeriodSeconds=0 removes the pod at once", s == 200 and k.get(NS + "/pods/force") is None, o)
        s, o, _ = k.req("DELETE", NS + "/pods/grace", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                        "gracePeriodSeconds": 2})
        check("graceful delete sets deletionTimestamp", s == 200 and o["metadata"].get("deletionGracePeriodSeconds") == 2,
              o)
        check("graceful delete ends with the container", wait_until(lambda: k.get(NS + "/pods/grace") is None, 20))

    def jobs(self):
        k, check = self.k, self.check
        j = self.job("fg", "sleep 30")
        check("job defaults", j["spec"]["completions"] == 1 and j["spec"]["parallelism"] == 1
              and j["spec"]["backoffLimit"] == 6 and j["metadata"]["generation"] == 1 and j["status"] == {}
              and j["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": j["metadata"]["uid"]}, j)
        self.job("orph")
        self.job("bg")
        self.job("bo", "exit 1", backoffLimit=1)
        self.job("ttl", ttlSecondsAfterFinished=1)
        wait_until(lambda: [p for p in self.job_pods("fg") if p["status"]["phase"] == "Running"], 30)
        pod = self.job_pods("fg")[0]
        check("job pod naming, labels and owner", pod["metadata"]["name"].startswith("fg-")
              and len(pod["metadata"]["name"]) == 8 and pod["metadata"]["labels"]["job-name"] == "fg"
              and pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == j["metadata"]["uid"]
              and pod["metadata"]["ownerReferences"][0]["controller"] is True, pod["metadata"])
        rv = k.get(BATCH + "/jobs")["metadata"]["resourceVersion"]
        wj = Watch(k, f"{BATCH}/jobs?watch=1&fieldSelector=metadata.name%3Dfg&resourceVersion={rv}")
        wp = Watch(k, f"{NS}/pods?watch=1&labelSelector=job-name%3Dfg&resourceVersion={rv}")
        s, o, _ = k.req("DELETE", BATCH + "/jobs/fg", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                       "propagationPolicy": "Foreground"})
        check("foreground delete answers with deletionTimestamp and the finalizer", s == 200
              and o["metadata"].get("deletionTimestamp") and o["metadata"]["finalizers"] == ["foregroundDeletion"], o)
        wj.find(lambda e: e["type"] == "DELETED", 30)
        seq = [(e["type"], bool(e["object"]["metadata"].get("deletionTimestamp"))) for e in wj.events]
        check("foreground: MODIFIED with deletionTimestamp, then DELETED", seq and seq[0] == ("MODIFIED", True)
              and seq[-1] == ("DELETED", True), seq)
        check("foreground: the pod goes first", wp.find(lambda e: e["type"] == "DELETED", 1) is not None)
        wj.close()
        wp.close()

        wait_until(lambda: self.job_pods("orph") and self.job_pods("bg"), 20)
        k.req("DELETE", BATCH + "/jobs/orph")
        k.req("DELETE", BATCH + "/jobs/bg?propagationPolicy=Background")
        check("Background deletes the pods", wait_until(lambda: not self.job_pods("bg"), 15))
        pods = self.job_pods("orph")
        check("a Job's default policy is Orphan", len(pods) == 1 and not pods[0]["metadata"].get("ownerReferences"), pods)

        def failed(name):
            def probe():
                j = k.get(f"{BATCH}/jobs/{name}")
                return j if j and any(c["type"] == "Failed" for c in j["status"].get("conditions", [])) else None
            return wait_until(probe, 40)
        j = failed("bo")
        cond = j and [c for c in j["status"]["conditions"] if c["type"] == "Failed"][0]
        check("backoffLimit", j and j["status"].get("failed") == 2 and cond["reason"] == "BackoffLimitExceeded"
              and cond["message"] == "Job has reached the specified backoff limit", j and j["status"])
        check("ttlSecondsAfterFinished", wait_until(lambda: k.req("GET", BATCH + "/jobs/ttl")[0] == 404, 30))

    def cronjobs(self):
        k, check = self.k, self.check
        k.req("POST", "/_fake/clock", {"now": "2026-12-07T09:59:57Z"})
        tmpl = {"metadata": {"labels": {"from": "cron"}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": BUSYBOX, "command": ["echo", "cron"]}]}}}}
        s, o, _ = k.req("POST", BATCH + "/cronjobs", {"metadata": {"name": "cron"}, "spec": {
            "schedule": "*/5 * * * *", "successfulJobsHistoryLimit": 1, "jobTemplate": tmpl}})
        check("create cronjob", s == 201, o)
        first = f"cron-{1796637600 // 60}"
        j = wait_until(lambda: k.get(f"{BATCH}/jobs/{first}"), 10)
        check("cronjob fires at the minute boundary of the fake clock", j and j["metadata"]["labels"]["from"] == "cron"
              and j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-12-07T10:00:00Z"
              and j["metadata"]["ownerReferences"][0]["kind"] == "CronJob", j)
        cj = wait_until(lambda: (lambda c: c if c["status"].get("lastSuccessfulTime") else None)(
            k.get(BATCH + "/cronjobs/cron")), 30)
        check("cronjob status", cj and cj["status"]["lastScheduleTime"] == "2026-12-07T10:00:00Z", cj and cj["status"])
        k.req("POST", "/_fake/clock", {"now": "2026-12-07T10:04:59Z"})
        check("next run", wait_until(lambda: k.get(f"{BATCH}/jobs/cron-{1796637900 // 60}"), 10))
        check("successfulJobsHistoryLimit", wait_until(lambda: k.req("GET", f"{BATCH}/jobs/{first}")[0] == 404, 30))
        s, o, _ = k.req("POST", BATCH + "/cronjobs", {"metadata": {"name": "bad"}, "spec": {
            "schedule": "61 * * * *", "jobTemplate": tmpl}})
        check("bad schedule: 422", s == 422 and "spec.schedule" in o["message"], o)
        k.req("DELETE", BATCH + "/cronjobs/cron")

    def namespaces(self):
        k, check = self.k, self.check
        k.req("POST", "/api/v1/namespaces", {"metadata": {"name": "tmpns"}})
        check("a new namespace has the default service account",
              k.get("/api/v1/namespaces/tmpns/serviceaccounts/default") is not None)
        k.req("POST", "/api/v1/namespaces/tmpns/configmaps", {"metadata": {"name": "c"}})
        k.req("DELETE", "/api/v1/namespaces/tmpns")
        check("deleting a namespace removes it and its contents",
              wait_until(lambda: k.req("GET", "/api/v1/namespaces/tmpns")[0] == 404, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token")
    p.add_argument("--cacert")
    p.add_argument("--strict", action="store_true", help="the server was given --swagger")
    args = p.parse_args()
    k = Client(args.url, args.token, args.cacert)
    c = Checks(k, args.strict)
    bookmarks = Watch(k, NS + "/serviceaccounts?watch=1&allowWatchBookmarks=true&resourceVersion="
                      + k.get(NS + "/serviceaccounts")["metadata"]["resourceVersion"])
    for step in (c.crud, c.selectors, c.faults, c.scheduling, c.config_errors, c.pull_and_evict, c.containers,
                 c.jobs, c.cronjobs, c.namespaces, lambda: c.watches(bookmarks)):
        try:
            step()
        except Exception as e:
            c.check(f"{getattr(step, '__name__', 'step')} raised", False, repr(e))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
