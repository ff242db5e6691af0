"""Route 53 for the test proxy: health check status set by the test, and changes that stay PENDING for a while.

- GetHealthCheckStatus answers from the proxy (moto always reports success): one observation per
  checker region (the health check's Regions, else Route 53's eight defaults), Success or Failure
  as the test set it (healthy by default). An Inverted check reports the inverse and a Disabled
  one always reports success, as Route 53 treats them.
- ChangeResourceRecordSets: the change is PENDING in the response and in GetChange for the
  duration set for "ChangeResourceRecordSets", then INSYNC. GetChange ids get the "/change/"
  prefix that moto leaves out.
- Inversion: which way GetHealthCheckStatus reports an inverted check is switchable
  ("inverted": after inversion, the default; "checker": each checker's own view of the endpoint).
  The AWS/Route53 HealthCheckStatus metric (CloudWatch us-east-1, JSON protocol) always carries
  the status Route 53 acts on, after inversion.
- CLOUDWATCH_METRIC checks follow their alarm's state in moto (moto drops AlarmIdentifier: the
  proxy keeps it from the request); CALCULATED checks count their healthy children. A
  PutMetricData (JSON or Query) sets the state of the alarms on that metric in moto.
- GetHealthCheckLastFailureReason answers from the proxy (moto lacks it): per checker region, the
  last failure the test set (its message and when it was set); none for a check that never failed.
  A failure may be limited to some checker regions ("regions" in the status the test sets).
- The data plane: GET /__proxy/route53/answer?name=&type= answers what Route 53's DNS would,
  straight from moto and the statuses above, so it keeps working while a fault cuts the
  control plane (signed for us-east-1).
"""
import re
import threading
import time
import xml.etree.ElementTree as ET

import awswire
from awswire import el, error_response, find, findall, iso, with_xml, xml_response

DEFAULT_CHECKERS = {  # region -> checker address (documentation ranges, not Route 53's)
    "us-east-1": "198.51.100.11", "us-west-1": "198.51.100.12", "us-west-2": "198.51.100.13",
    "eu-west-1": "198.51.100.14", "ap-southeast-1": "198.51.100.15", "ap-southeast-2": "198.51.100.16",
    "ap-northeast-1": "198.51.100.17", "sa-east-1": "198.51.100.18",
}
SUCCESS = "Success: HTTP Status Code 200, OK"
FAILURE = ("Failure: Connection timed out. The endpoint or the internet connection is down, or requests "
           "are being blocked by your firewall. See https://docs.aws.amazon.com/Route53/latest/"
           "DeveloperGuide/dns-failover-router-firewall-rules.html")


class Route53:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.Lock()
        self.health = {}  # health check id -> {"healthy": bool, "message": str|None, "regions": [str]|None}
        self.failures = {}  # health check id -> {checker region: (message, time)}: the last failure seen there
        self.configs = {}  # health check id -> {"Inverted", "Disabled", "Regions"} seen in moto's answers
        self.pending = {}  # change id (no prefix) -> time it becomes INSYNC
        self.reading = "inverted"  # how GetHealthCheckStatus reports an inverted check (see the docstring)
        self.alarm_ids = {}  # health check id -> {"Region", "Name"} of a CLOUDWATCH_METRIC check
        self.last_alarm = {}  # health check id -> last known healthy (InsufficientDataHealthStatus LastKnownStatus)
        self.before = {("route53", "GetHealthCheckStatus"): self.health_status,
                       ("route53", "GetHealthCheckLastFailureReason"): self.last_failure_reason,
                       ("monitoring", "GetMetricStatistics"): self.metric_statistics}
        self.after = {("route53", "ChangeResourceRecordSets"): self.change_submitted,
                      ("route53", "GetChange"): self.get_change,
                      ("route53", "CreateHealthCheck"): self.remember_config,
                      ("route53", "UpdateHealthCheck"): self.remember_config,
                      ("route53", "GetHealthCheck"): self.remember_config,
                      ("route53", "DeleteHealthCheck"): self.forget_config,
                      ("monitoring", "PutMetricData"): self.evaluate_alarms}
        self.control = [("PUT", r"/route53/healthchecks/([^/]+)/status", self.c_set_health),
                        ("GET", r"/route53/healthchecks", lambda m, s, q: (200, self.dump()["health"])),
                        ("PUT", r"/route53/inversion", self.c_set_reading),
                        ("GET", r"/route53/answer", self.c_answer)]

    def reset(self):
        with self.lock:
            self.health.clear()
            self.failures.clear()
            self.configs.clear()
            self.pending.clear()
            self.alarm_ids.clear()
            self.last_alarm.clear()
            self.reading = "inverted"

    def dump(self):
        with self.lock:
            return {"health": dict(self.health), "pending": dict(self.pending), "reading": self.reading,
                    "alarms": dict(self.alarm_ids)}

    def _config(self, root):
        hc = find(root, "HealthCheck")
        config = find(hc, "HealthCheckConfig")

        def flag(name):
            e = find(config, name)
            return e is not None and e.text == "true"
        def text(name, default=None):
            e = find(config, name)
            return e.text if e is not None else default
        with self.lock:
            hc_id = find(hc, "Id").text
            self.configs[hc_id] = {"Inverted": flag("Inverted"), "Disabled": flag("Disabled"),
                                   "Regions": [e.text for e in findall(config, "Regions/Region")],
                                   "Type": text("Type", "HTTPS"),
                                   "Children": [e.text for e in findall(config, "ChildHealthChecks/ChildHealthCheck")],
                                   "Threshold": int(text("HealthThreshold", "0") or 0),
                                   "InsufficientData": text("InsufficientDataHealthStatus", "LastKnownStatus")}
        return hc_id

    def remember_config(self, req, resp):
        root = ET.fromstring(resp.body)
        hc_id = self._config(root)
        alarm = None
        if req.operation == "CreateHealthCheck" and req.body:
            sent = find(ET.fromstring(req.body), "HealthCheckConfig")
            a = find(sent, "AlarmIdentifier") if sent is not None else None
            if a is not None:
                alarm = {"Region": find(a, "Region").text, "Name": find(a, "Name").text}
                ids = find(sent, "InsufficientDataHealthStatus")
                with self.lock:
                    self.alarm_ids[hc_id] = alarm
                    if ids is not None:
                        self.configs[hc_id]["InsufficientData"] = ids.text
        with self.lock:
            alarm = self.alarm_ids.get(hc_id)
            insufficient = self.configs[hc_id]["InsufficientData"]
        config = find(find(root, "HealthCheck"), "HealthCheckConfig")
        if alarm is None or config is None or find(config, "AlarmIdentifier") is not None:
            return None
        # moto drops the alarm of a CLOUDWATCH_METRIC check: give it back as Route 53 does
        ns = awswire.NS["route53"]
        a = ET.SubElement(config, f"{{{ns}}}AlarmIdentifier")
        ET.SubElement(a, f"{{{ns}}}Region").text = alarm["Region"]
        ET.SubElement(a, f"{{{ns}}}Name").text = alarm["Name"]
        ET.SubElement(config, f"{{{ns}}}InsufficientDataHealthStatus").text = insufficient
        return with_xml(resp, root, ns)

    def forget_config(self, req, resp):
        with self.lock:
            self.configs.pop(req.labels["HealthCheckId"], None)
        return None

    def _known(self, hc_id):
        """True when the health check exists (its settings then known), False when moto does not know it."""
        with self.lock:
            if hc_id in self.configs:
                return True
        r = self.fx.call("route53", "us-east-1", "GET", f"/2013-04-01/healthcheck/{hc_id}")
        if r.status == 200:
            self._config(ET.fromstring(r.body))
            return True
        # else: moto with --auth rejects its own Route 53 GETs; assume a plain health check
        return r.status != 404

    def _alarm_state(self, alarm):
        """The alarm's state in moto (straight to moto: a fault on the region's API does not hide it)."""
        try:
            found = self.fx.client("cloudwatch", alarm["Region"]).describe_alarms(
                AlarmNames=[alarm["Name"]])["MetricAlarms"]
        except Exception:
            return "INSUFFICIENT_DATA"
        return found[0]["StateValue"] if found else "INSUFFICIENT_DATA"

    def status(self, hc_id, depth=0):
        """(status Route 53 acts on (after inversion), the endpoint's own status) of a health check."""
        with self.lock:
            config = dict(self.configs.get(hc_id, {"Inverted": False, "Disabled": False, "Regions": []}))
            state = self.health.get(hc_id, {"healthy": True, "message": None})
            alarm = self.alarm_ids.get(hc_id)
        kind = config.get("Type", "HTTPS")
        if kind == "CALCULATED" and depth < 4:
            up = sum(1 for c in config.get("Children", []) if self._known(c) and self.status(c, depth + 1)[0])
            raw = up >= config.get("Threshold", 0)
        elif kind == "CLOUDWATCH_METRIC" and alarm:
            st = self._alarm_state(alarm)
            if st == "INSUFFICIENT_DATA":
                how = config.get("InsufficientData", "LastKnownStatus")
                raw = (how == "Healthy" or
                       (how == "LastKnownStatus" and self.last_alarm.get(hc_id, True)))
            else:
                raw = st == "OK"
                self.last_alarm[hc_id] = raw
            raw = raw and state["healthy"]
        else:
            raw = state["healthy"]
        if config["Disabled"]:
            return True, True
        return raw != config["Inverted"], raw

    def health_status(self, req):
        hc_id = req.labels["HealthCheckId"]
        if not self._known(hc_id):
            return error_response(req, 404, "NoSuchHealthCheck", f"A health check with id {hc_id} does not exist.")
        with self.lock:
            config = self.configs.get(hc_id, {"Inverted": False, "Disabled": False, "Regions": []})
            state = self.health.get(hc_id, {"healthy": True, "message": None})
            reading = self.reading
        after, raw = self.status(hc_id)
        healthy = after if reading == "inverted" else raw
        status = (state["message"] if state["message"] and healthy == state["healthy"] else
                  SUCCESS if healthy else FAILURE)
        regions = config["Regions"] or list(DEFAULT_CHECKERS)
        now = time.time()
        seeing = state.get("regions")  # a failure some checker regions only see: the others report success

        def of(r):
            return SUCCESS if seeing is not None and r not in seeing and not state["healthy"] else status
        obs = "".join(
            f"<HealthCheckObservation>{el('Region', r)}{el('IPAddress', DEFAULT_CHECKERS.get(r, '198.51.100.10'))}"
            f"<StatusReport>{el('Status', of(r))}{el('CheckedTime', iso(now - 1 - i))}</StatusReport>"
            f"</HealthCheckObservation>" for i, r in enumerate(regions))
        return xml_response(f'<GetHealthCheckStatusResponse xmlns="{awswire.NS["route53"]}">'
                            f'<HealthCheckObservations>{obs}</HealthCheckObservations>'
                            f'</GetHealthCheckStatusResponse>')

    def last_failure_reason(self, req):
        hc_id = req.labels["HealthCheckId"]
        if not self._known(hc_id):
            return error_response(req, 404, "NoSuchHealthCheck", f"A health check with id {hc_id} does not exist.")
        with self.lock:
            failures = dict(self.failures.get(hc_id, {}))
        obs = "".join(
            f"<HealthCheckObservation>{el('Region', r)}{el('IPAddress', DEFAULT_CHECKERS.get(r, '198.51.100.10'))}"
            f"<StatusReport>{el('Status', msg)}{el('CheckedTime', iso(when))}</StatusReport>"
            f"</HealthCheckObservation>" for r, (msg, when) in sorted(failures.items()))
        return xml_response(f'<GetHealthCheckLastFailureReasonResponse xmlns="{awswire.NS["route53"]}">'
                            f'<HealthCheckObservations>{obs}</HealthCheckObservations>'
                            f'</GetHealthCheckLastFailureReasonResponse>')

    def change_submitted(self, req, resp):
        seconds = self.fx.duration("ChangeResourceRecordSets")
        if seconds <= 0:
            return None
        root = ET.fromstring(resp.body)
        info = find(root, "ChangeInfo")
        with self.lock:
            self.pending[find(info, "Id").text.rsplit("/", 1)[-1]] = time.time() + seconds
        find(info, "Status").text = "PENDING"
        return with_xml(resp, root, awswire.NS["route53"])

    def get_change(self, req, resp):
        root = ET.fromstring(resp.body)
        info = find(root, "ChangeInfo")
        change_id = find(info, "Id").text.rsplit("/", 1)[-1]
        find(info, "Id").text = "/change/" + change_id
        with self.lock:
            if self.pending.get(change_id, 0) > time.time():
                find(info, "Status").text = "PENDING"
        return with_xml(resp, root, awswire.NS["route53"])

    def c_set_health(self, m, spec, query):
        """PUT /route53/healthchecks/<id>/status {"healthy": bool, "message"?: "Failure: ...", "regions"?: [...]}

        "regions": the checker regions that see a failure (default: all); the others report success. A failure is
        remembered per checker region for GetHealthCheckLastFailureReason, also once the check is healthy again."""
        if not isinstance(spec.get("healthy"), bool):
            raise ValueError('body must be {"healthy": true|false[, "message": "..."][, "regions": [...]]}')
        regions = spec.get("regions")
        if regions is not None and (not isinstance(regions, list) or not all(isinstance(r, str) for r in regions)):
            raise ValueError('"regions" must be a list of checker regions')
        hc_id = m.group(1)
        if not re.fullmatch(r"[0-9A-Za-z-]+", hc_id):
            raise ValueError("not a health check id")
        with self.lock:
            config = self.configs.get(hc_id, {"Regions": []})
        checkers = config.get("Regions") or list(DEFAULT_CHECKERS)
        with self.lock:
            self.health[hc_id] = {"healthy": spec["healthy"], "message": spec.get("message"), "regions": regions}
            if not spec["healthy"]:
                seen = self.failures.setdefault(hc_id, {})
                for r in (regions if regions is not None else checkers):
                    seen[r] = (spec.get("message") or FAILURE, time.time())
            return 200, dict(self.health[hc_id])


    def c_set_reading(self, m, spec, query):
        """PUT /route53/inversion {"reading": "inverted"|"checker"}: how GetHealthCheckStatus reports an inverted check."""
        if spec.get("reading") not in ("inverted", "checker"):
            raise ValueError('body must be {"reading": "inverted"|"checker"}')
        with self.lock:
            self.reading = spec["reading"]
        return 200, {"reading": spec["reading"]}

    # ---- CloudWatch: the HealthCheckStatus metric and the alarms CLOUDWATCH_METRIC checks follow ----
    def metric_statistics(self, req):
        """AWS/Route53 HealthCheckStatus in us-east-1 (JSON protocol): one datapoint with the current status."""
        if req.region != "us-east-1" or req.protocol != "json":
            return None  # moto's answer (no datapoints): Route 53 publishes in us-east-1 only
        body = req.json()
        if body.get("Namespace") != "AWS/Route53" or body.get("MetricName") != "HealthCheckStatus":
            return None
        hc_id = next((d.get("Value") for d in body.get("Dimensions", []) if d.get("Name") == "HealthCheckId"), None)
        points = []
        if hc_id and self._known(hc_id):
            value = 1.0 if self.status(hc_id)[0] else 0.0
            end = min(float(body.get("EndTime", time.time())), time.time())
            stats = body.get("Statistics") or ["Minimum"]
            point = {"Timestamp": int(end) - 30, "Unit": "None"}
            for s in stats:
                point[s] = 1.0 if s == "SampleCount" else value
            points.append(point)
        return awswire.json_response({"Label": "HealthCheckStatus", "Datapoints": points}, service="monitoring")

    def evaluate_alarms(self, req, resp):
        """After a PutMetricData: the alarms on that metric take the state its newest value gives (moto never
        evaluates alarms). JSON (the agent) and Query bodies; CBOR bodies are left to moto."""
        data = []
        if req.protocol == "json":
            body = req.json()
            ns = body.get("Namespace")
            for d in body.get("MetricData", []):
                data.append((d.get("MetricName"), {x["Name"]: x["Value"] for x in d.get("Dimensions", [])},
                             d.get("Value")))
        elif req.form.get("Action") == "PutMetricData":
            ns = req.form.get("Namespace")
            for i in range(1, 21):
                p = f"MetricData.member.{i}."
                if p + "MetricName" not in req.form:
                    break
                dims = {req.form[f"{p}Dimensions.member.{j}.Name"]: req.form.get(f"{p}Dimensions.member.{j}.Value")
                        for j in range(1, 31) if f"{p}Dimensions.member.{j}.Name" in req.form}
                data.append((req.form[p + "MetricName"], dims, req.form.get(p + "Value")))
        else:
            return None
        cw = self.fx.client("cloudwatch", req.region)
        compare = {"GreaterThanOrEqualToThreshold": lambda v, t: v >= t, "GreaterThanThreshold": lambda v, t: v > t,
                   "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t}
        for name, dims, value in data:
            if value is None:
                continue
            for a in cw.describe_alarms_for_metric(MetricName=name, Namespace=ns).get("MetricAlarms", []):
                if {d["Name"]: d["Value"] for d in a.get("Dimensions", [])} != dims:
                    continue
                op = compare.get(a.get("ComparisonOperator"))
                if op is None:
                    continue
                want = "ALARM" if op(float(value), float(a["Threshold"])) else "OK"
                if a["StateValue"] != want:
                    cw.set_alarm_state(AlarmName=a["AlarmName"], StateValue=want,
                                       StateReason=f"Threshold crossed: datapoint {value} (test proxy)")
        return None

    # ---- the data plane ----
    def answer(self, name, rtype):
        """What Route 53's name servers answer for name/type: failover records follow their health checks."""
        r53 = self.fx.client("route53", "us-east-1")
        want = name.rstrip(".").lower() + "."
        zones = [z for z in r53.list_hosted_zones()["HostedZones"]
                 if want == z["Name"].lower() or want.endswith("." + z["Name"].lower())]
        if not zones:
            return None
        zone = max(zones, key=lambda z: len(z["Name"]))
        sets = r53.list_resource_record_sets(HostedZoneId=zone["Id"], StartRecordName=want,
                                             StartRecordType=rtype)["ResourceRecordSets"]
        sets = [s for s in sets if s["Name"].lower() == want and s["Type"] == rtype]
        role = {s.get("Failover"): s for s in sets}
        plain = role.get(None)
        if plain:
            return {"answer": plain["ResourceRecords"][0]["Value"].rstrip("."), "record": None}
        p, s = role.get("PRIMARY"), role.get("SECONDARY")
        if p and (not p.get("HealthCheckId") or not self._known(p["HealthCheckId"])
                  or self.status(p["HealthCheckId"])[0]):
            return {"answer": p["ResourceRecords"][0]["Value"].rstrip("."), "record": "PRIMARY"}
        if s:
            return {"answer": s["ResourceRecords"][0]["Value"].rstrip("."), "record": "SECONDARY"}
        if p:  # every record unhealthy: Route 53 answers as if all were healthy
            return {"answer": p["ResourceRecords"][0]["Value"].rstrip("."), "record": "PRIMARY"}
        return None

    def c_answer(self, m, spec, query):
        """GET /route53/answer?name=api.example.com&type=CNAME"""
        name, rtype = query.get("name", [""])[0], query.get("type", ["CNAME"])[0]
        if not name:
            raise ValueError("name= is required")
        got = self.answer(name, rtype)
        if got is None:
            return 404, {"error": f"no {rtype} record {name}"}
        return 200, got
