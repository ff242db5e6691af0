"""Route 53 for the test proxy: health check status set by the test, and changes that stay PENDING for a while.

- GetHealthCheckStatus answers from the proxy (moto always reports success): one observation per
  checker region (the health check's Regions, else Route 53's eight defaults), Success or Failure
  as the test set it (healthy by default). An Inverted check reports the inverse and a Disabled
  one always reports success, as Route 53 treats them.
- ChangeResourceRecordSets: the change is PENDING in the response and in GetChange for the
  duration set for "ChangeResourceRecordSets", then INSYNC. GetChange ids get the "/change/"
  prefix that moto leaves out.
"""
import re
import threading
import time
import xml.etree.ElementTree as ET

import awswire
from awswire import Response, el, error_response, find, findall, iso, to_xml, xml_response

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
        self.health = {}  # health check id -> {"healthy": bool, "message": str|None}
        self.configs = {}  # health check id -> {"Inverted", "Disabled", "Regions"} seen in moto's answers
        self.pending = {}  # change id (no prefix) -> time it becomes INSYNC
        self.before = {("route53", "GetHealthCheckStatus"): self.health_status}
        self.after = {("route53", "ChangeResourceRecordSets"): self.change_submitted,
                      ("route53", "GetChange"): self.get_change,
                      ("route53", "CreateHealthCheck"): self.remember_config,
                      ("route53", "UpdateHealthCheck"): self.remember_config,
                      ("route53", "GetHealthCheck"): self.remember_config,
                      ("route53", "DeleteHealthCheck"): self.forget_config}
        self.control = [("PUT", r"/route53/healthchecks/([^/]+)/status", self.c_set_health),
                        ("GET", r"/route53/healthchecks", lambda m, s, q: (200, self.dump()["health"]))]

    def reset(self):
        with self.lock:
            self.health.clear()
            self.configs.clear()
            self.pending.clear()

    def dump(self):
        with self.lock:
            return {"health": dict(self.health), "pending": dict(self.pending)}

    def _config(self, root):
        hc = find(root, "HealthCheck")
        config = find(hc, "HealthCheckConfig")

        def flag(name):
            e = find(config, name)
            return e is not None and e.text == "true"
        with self.lock:
            self.configs[find(hc, "Id").text] = {"Inverted": flag("Inverted"), "Disabled": flag("Disabled"),
                                                 "Regions": [e.text for e in findall(config, "Regions/Region")]}

    def remember_config(self, req, resp):
        self._config(ET.fromstring(resp.body))
        return None

    def forget_config(self, req, resp):
        with self.lock:
            self.configs.pop(req.labels["HealthCheckId"], None)
        return None

    def health_status(self, req):
        hc_id = req.labels["HealthCheckId"]
        with self.lock:
            known = hc_id in self.configs
        if not known:
            r = self.fx.call("route53", "us-east-1", "GET", f"/2013-04-01/healthcheck/{hc_id}")
            if r.status == 200:
                self._config(ET.fromstring(r.body))
            elif r.status == 404:
                return error_response(req, 404, "NoSuchHealthCheck",
                                      f"A health check with id {hc_id} does not exist.")
            # else: moto with --auth rejects its own Route 53 GETs; assume a plain health check
        with self.lock:
            config = self.configs.get(hc_id, {"Inverted": False, "Disabled": False, "Regions": []})
            state = self.health.get(hc_id, {"healthy": True, "message": None})
        healthy = True if config["Disabled"] else state["healthy"] != config["Inverted"]
        status = (state["message"] if state["message"] and healthy == state["healthy"] else
                  SUCCESS if healthy else FAILURE)
        regions = config["Regions"] or list(DEFAULT_CHECKERS)
        now = time.time()
        obs = "".join(
            f"<HealthCheckObservation>{el('Region', r)}{el('IPAddress', DEFAULT_CHECKERS.get(r, '198.51.100.10'))}"
            f"<StatusReport>{el('Status', status)}{el('CheckedTime', iso(now - 1 - i))}</StatusReport>"
            f"</HealthCheckObservation>" for i, r in enumerate(regions))
        return xml_response(f'<GetHealthCheckStatusResponse xmlns="{awswire.NS["route53"]}">'
                            f'<HealthCheckObservations>{obs}</HealthCheckObservations>'
                            f'</GetHealthCheckStatusResponse>')

    def change_submitted(self, req, resp):
        seconds = self.fx.duration("ChangeResourceRecordSets")
        if seconds <= 0:
            return None
        root = ET.fromstring(resp.body)
        info = find(root, "ChangeInfo")
        with self.lock:
            self.pending[find(info, "Id").text.rsplit("/", 1)[-1]] = time.time() + seconds
        find(info, "Status").text = "PENDING"
        return _with_body(resp, root)

    def get_change(self, req, resp):
        root = ET.fromstring(resp.body)
        info = find(root, "ChangeInfo")
        change_id = find(info, "Id").text.rsplit("/", 1)[-1]
        find(info, "Id").text = "/change/" + change_id
        with self.lock:
            if self.pending.get(change_id, 0) > time.time():
                find(info, "Status").text = "PENDING"
        return _with_body(resp, root)

    def c_set_health(self, m, spec, query):
        """PUT /route53/healthchecks/<id>/status {"healthy": bool, "message"?: "Failure: ..."}"""
        if not isinstance(spec.get("healthy"), bool):
            raise ValueError('body must be {"healthy": true|false[, "message": "..."]}')
        hc_id = m.group(1)
        if not re.fullmatch(r"[0-9A-Za-z-]+", hc_id):
            raise ValueError("not a health check id")
        with self.lock:
            self.health[hc_id] = {"healthy": spec["healthy"], "message": spec.get("message")}
            return 200, dict(self.health[hc_id])


def _with_body(resp, root):
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + to_xml(root, awswire.NS["route53"])
    return Response(resp.status, [(k, v) for k, v in resp.headers if k.lower() != "content-length"], body)
