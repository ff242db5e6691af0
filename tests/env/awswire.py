"""AWS wire helpers for the test proxy: request classification (SigV4 scope, protocol, operation) and AWS-shaped responses."""
import datetime
import json
import re
import threading
import urllib.parse
import uuid
import zlib
from xml.sax.saxutils import escape

# XML namespaces of the query and REST-XML services the fixture answers for.
NS = {
    "rds": "http://rds.amazonaws.com/doc/2014-10-31/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/",
    "route53": "https://route53.amazonaws.com/doc/2013-04-01/",
    "s3": "http://s3.amazonaws.com/doc/2006-03-01/",
}
REST_SERVICES = ("s3", "route53", "backup")  # routed by method + path, using the botocore models

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class Request:
    """One request as received: everything needed to forward it unchanged, plus its classification."""

    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.path_only, _, self.query_string = path.partition("?")
        self.query = urllib.parse.parse_qs(self.query_string, keep_blank_values=True)
        self.service, self.region = scope_of(headers.get("Authorization", ""), self.query)
        self.form = {}
        ctype = headers.get("Content-Type", "")
        if method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
            self.form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                                                   keep_blank_values=True).items()}
        elif "Action" in self.query:
            self.form = {k: v[0] for k, v in self.query.items()}
        self.protocol = protocol_of(self)
        self.operation, self.labels = operation_of(self)

    def json(self):
        return json.loads(self.body or b"{}")

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default


def scope_of(authorization, query):
    """(service, region) from the SigV4 credential scope; (None, None) for unsigned requests."""
    m = _SCOPE_RE.search(authorization)
    if m:
        return m.group(2), m.group(1)
    cred = query.get("X-Amz-Credential")
    if cred:
        parts = cred[0].split("/")
        if len(parts) == 5:
            return parts[3], parts[2]
    return None, None


def protocol_of(req):
    if req.headers.get("X-Amz-Target"):
        return "json"
    if req.service in ("s3", "route53"):
        return req.service  # REST-XML, each with its own error shape
    if req.form.get("Action"):
        return "query"
    return "rest-json"


# ---- operation names -----------------------------------------------------------------------------
_routes = {}
_routes_lock = threading.Lock()


def _rest_routes(service):
    """(method, path regex, required query, required headers, literal length, label names, operation)
    for each operation of a REST service, from the botocore model."""
    with _routes_lock:
        if service not in _routes:
            import botocore.session
            model = botocore.session.get_session().get_service_model(service)
            table = []
            for op in model.operation_names:
                om = model.operation_model(op)
                http = om.http
                path, _, qs = http["requestUri"].partition("?")
                required = dict(p.partition("=")[::2] for p in qs.split("&") if p)
                # Required query and header members tell apart operations on one route
                # (PutObject / CopyObject / UploadPart all are PUT /{Bucket}/{Key+}).
                headers, uri_member = [], {}
                if om.input_shape is not None:
                    uri_member = {m.serialization.get("name", n): n for n, m in om.input_shape.members.items()
                                  if m.serialization.get("location") == "uri"}
                    for name in om.input_shape.required_members:
                        m = om.input_shape.members[name].serialization
                        if m.get("location") == "querystring":
                            required.setdefault(m["name"], "")
                        elif m.get("location") == "header":
                            headers.append(m["name"])
                regex, names = "", []
                for tok in re.split(r"(\{[^}]+\})", path.rstrip("/")):
                    if tok.startswith("{"):  # labels are reported under the member names
                        names.append(uri_member.get(tok.strip("{}+"), tok.strip("{}+")))
                        regex += "(.+)" if tok.endswith("+}") else "([^/]+)"
                    else:
                        regex += re.escape(tok)
                literal = len(re.sub(r"\{[^}]+\}", "", path))
                table.append((http["method"], re.compile("^" + regex + "/?$"), required, headers,
                              literal, names, op))
            _routes[service] = table
        return _routes[service]


def operation_of(req):
    """(operation name, path labels) from X-Amz-Target, the Action field, or the REST route."""
    target = req.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], {}
    if req.form.get("Action"):
        return req.form["Action"], {}
    m = re.match(r"^/service/[^/]+/operation/([A-Za-z]+)$", req.path_only)  # smithy rpc-v2-cbor
    if m:
        return m.group(1), {}
    if req.service not in REST_SERVICES:
        return None, {}
    best = None
    for method, regex, required, headers, literal, names, op in _rest_routes(req.service):
        if method != req.method:
            continue
        m = regex.match(req.path_only)
        if (not m or any(k not in req.query or (v and req.q(k) != v) for k, v in required.items())
                or any(h not in req.headers for h in headers)):
            continue
        rank = (len(required) + len(headers), literal)
        if best is None or rank > best[0]:
            labels = {n: urllib.parse.unquote(v) for n, v in zip(names, m.groups())}
            best = (rank, op, labels)
    return (best[1], best[2]) if best else (None, {})


# ---- responses -----------------------------------------------------------------------------------
class Response:
    def __init__(self, status, headers=None, body=b""):
        self.status = status
        self.headers = list(headers or [])  # [(name, value)], order kept
        self.body = body if isinstance(body, bytes) else body.encode()

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))


def request_id():
    return str(uuid.uuid4())


def json_response(obj, status=200, service="dynamodb", content_type=None):
    body = json.dumps(obj, default=_json_default).encode()
    ctype = content_type or ("application/x-amz-json-1.0" if service in ("dynamodb", "monitoring")
                             else "application/json")
    headers = [("Content-Type", ctype), ("x-amzn-RequestId", request_id())]
    if service == "dynamodb":
        headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))  # botocore checks it
    return Response(status, headers, body)


def fix_crc32(resp):
    """After changing a DynamoDB body: the client rejects (and retries) a wrong x-amz-crc32."""
    if resp.header("x-amz-crc32") is not None:
        resp.set_header("x-amz-crc32", str(zlib.crc32(resp.body) & 0xFFFFFFFF))
    resp.set_header("Content-Length", None)


def _json_default(o):
    if isinstance(o, datetime.datetime):
        return o.timestamp()
    raise TypeError(type(o))


def xml_response(body, status=200):
    return Response(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id())],
                    '<?xml version="1.0" encoding="UTF-8"?>\n' + body)


def query_response(service, operation, result_xml):
    """A Query-protocol success: <OpResponse><OpResult>...</OpResult><ResponseMetadata/>."""
    rid = request_id()
    return xml_response(f'<{operation}Response xmlns="{NS[service]}"><{operation}Result>{result_xml}'
                        f'</{operation}Result><ResponseMetadata><RequestId>{rid}</RequestId>'
                        f'</ResponseMetadata></{operation}Response>')


def el(name, value):
    """One XML element with escaped text; None gives nothing, booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


THROTTLE = {  # protocol -> (status, code, message), as each service sends it
    "json": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "query": (400, "Throttling", "Rate exceeded"),
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "route53": (400, "Throttling", "Rate exceeded"),
    "rest-json": (400, "ThrottlingException", "Rate exceeded"),
}


def throttle_error(req):
    """(status, code, message) of the throttling error the request's service sends."""
    if req.service == "monitoring":  # query-compatible JSON: the Query code, not ThrottlingException
        return 400, "Throttling", "Rate exceeded"
    return THROTTLE[req.protocol]


def default_error_code(protocol, status):
    if status == 503:
        return "SlowDown" if protocol == "s3" else "ServiceUnavailable"
    if status >= 500:
        return {"s3": "InternalError", "json": "InternalServerError"}.get(protocol, "InternalFailure")
    return "ValidationException" if protocol in ("json", "rest-json") else "InvalidParameterValue"


def error_response(req, status, code, message):
    """An error in the shape of the request's protocol (see PROTOCOLS.md section 8)."""
    proto, svc = req.protocol, req.service or ""
    fault = "Receiver" if status >= 500 else "Sender"
    rid = request_id()
    if proto == "json":
        prefix = "com.amazonaws.dynamodb.v20120810#" if svc == "dynamodb" else f"com.amazonaws.{svc}#"
        resp = json_response({"__type": prefix + code, "message": message}, status, svc)
        if svc == "monitoring":  # awsQueryCompatible: the client takes the code from this header
            resp.headers.append(("x-amzn-query-error", f"{code};{fault}"))
        return resp
    if proto == "rest-json":
        return Response(status, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid),
                                 ("x-amzn-ErrorType", code)],
                        json.dumps({"Code": code, "Message": message,
                                    "Type": "Server" if status >= 500 else "Client"}))
    if proto == "s3":
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid[:16].upper()),
                   ("x-amz-id-2", rid)]
        if req.method == "HEAD":  # a HEAD error carries no body
            return Response(status, headers + [("Content-Length", "0")])
        return Response(status, headers,
                        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{el("Code", code)}'
                        f'{el("Message", message)}<RequestId>{rid[:16].upper()}</RequestId>'
                        f'<HostId>{rid}</HostId></Error>')
    ns = NS.get(svc, NS["route53"] if proto == "route53" else "")
    return xml_response(f'<ErrorResponse xmlns="{ns}"><Error><Type>{fault}</Type>{el("Code", code)}'
                        f'{el("Message", message)}</Error><RequestId>{rid}</RequestId></ErrorResponse>',
                        status)


# ---- time ----------------------------------------------------------------------------------------
def iso(t):
    """Epoch seconds -> ISO-8601 UTC with milliseconds, as Query and REST-XML services write it."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text):
    """ISO-8601 (as botocore puts it in a query string) or epoch seconds -> epoch seconds."""
    try:
        return float(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- XML rewriting of moto's answers ---------------------------------------------------------------
def local(tag):
    return tag.rsplit("}", 1)[-1]


def find(elem, path):
    """ElementTree find by local names, ignoring namespaces: find(root, 'A/B')."""
    for name in path.split("/"):
        elem = next((c for c in elem if local(c.tag) == name), None)
        if elem is None:
            return None
    return elem


def findall(elem, path):
    *head, last = path.split("/")
    parent = find(elem, "/".join(head)) if head else elem
    return [] if parent is None else [c for c in parent if local(c.tag) == last]


def to_xml(elem, ns=None):
    """Serialize an ElementTree element with plain tag names and one default namespace on the root."""
    attrs = f' xmlns="{ns}"' if ns else ""
    inner = escape(elem.text or "") + "".join(to_xml(c) for c in elem)
    out = f"<{local(elem.tag)}{attrs}>{inner}</{local(elem.tag)}>"
    return out + escape(elem.tail or "") if not ns else out
