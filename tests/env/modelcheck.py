"""Strict check of a raw AWS response body against the botocore output shape, for the proxy's fidelity tests.

botocore's parsers ignore members they do not know, so a misspelt element in an emulated answer
would parse "fine" and hide the mistake. check() walks the raw body and reports every element or
key that the model does not define, every value of the wrong type and every enum value that is
not in the enum. An empty list means the body is exactly AWS-shaped as far as the model can tell.
"""
import datetime
import json
import xml.etree.ElementTree as ET

import botocore.session

_models = {}


def _model(service):
    if service not in _models:
        _models[service] = botocore.session.get_session().get_service_model(service)
    return _models[service]


def check(service, operation, body):
    """Problems found in a successful response body of service/operation (a list of strings)."""
    model = _model(service)
    op = model.operation_model(operation)
    shape = op.output_shape
    proto = model.metadata["protocol"]
    if proto in ("json", "rest-json"):
        data = json.loads(body) if body.strip() else {}
        if shape is None:
            return [] if not data else [f"{operation}: body {data!r} where the model has no output"]
        return _check_json(shape, data, operation)
    root = ET.fromstring(body)
    if proto == "query" and shape is None:  # no output: <OpResponse> with ResponseMetadata only
        extra = [_local(c.tag) for c in root if _local(c.tag) not in ("ResponseMetadata", f"{operation}Result")]
        return [] if _local(root.tag) == f"{operation}Response" and not extra else [f"{operation}: unexpected {extra}"]
    if proto == "query":
        wrapper = op.metadata.get("resultWrapper") or op.output_shape.serialization.get("resultWrapper")
        wrapper = wrapper or f"{operation}Result"
        problems = [] if _local(root.tag) == f"{operation}Response" else [f"root is {_local(root.tag)}"]
        result = next((c for c in root if _local(c.tag) == wrapper), None)
        if result is None:
            return problems + [f"no <{wrapper}> in the response"]
        return problems + _check_xml(shape, result, wrapper)
    # rest-xml: the root element is the output shape (or its payload member)
    payload = shape.serialization.get("payload")
    if payload:
        shape = shape.members[payload]
    return _check_xml(shape, root, _local(root.tag))


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _check_json(shape, value, path):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        out = []
        body_members = {n: m for n, m in shape.members.items() if not m.serialization.get("location")}
        for k, v in value.items():
            if k not in body_members:
                out.append(f"{path}.{k}: not a member of {shape.name}")
            else:
                out += _check_json(body_members[k], v, f"{path}.{k}")
        return out
    if t == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, v in enumerate(value) for p in _check_json(shape.member, v, f"{path}[{i}]")]
    if t == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [p for k, v in value.items() for p in _check_json(shape.value, v, f"{path}[{k}]")]
    if t == "timestamp":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            [f"{path}: a JSON timestamp must be epoch seconds, got {value!r}"]
    if t == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if t in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    if t in ("double", "float"):
        return [] if isinstance(value, (int, float)) else [f"{path}: expected a number"]
    if t == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        return _check_enum(shape, value, path)
    return []


def _check_enum(shape, value, path):
    enum = getattr(shape, "enum", None)
    return [f"{path}: {value!r} is not one of {enum}"] if enum and value not in enum else []


def _xml_name(member_shape, name):
    return member_shape.serialization.get("name", name)


def _check_xml(shape, elem, path):
    t = shape.type_name
    if t == "structure":
        by_tag = {}
        for name, m in shape.members.items():
            if m.serialization.get("location"):
                continue  # headers, status code
            if m.type_name == "list" and m.serialization.get("flattened"):
                by_tag[_xml_name(m.member, _xml_name(m, name))] = ("flat", m)
            else:
                by_tag[_xml_name(m, name)] = ("one", m)
        out = []
        flat = {}
        for child in elem:
            tag = _local(child.tag)
            if tag not in by_tag:
                if tag not in ("ResponseMetadata",):
                    out.append(f"{path}/{tag}: not a member of {shape.name}")
                continue
            kind, m = by_tag[tag]
            if kind == "flat":
                flat.setdefault(tag, []).append(child)
                out += _check_xml(m.member, child, f"{path}/{tag}")
            else:
                out += _check_xml(m, child, f"{path}/{tag}")
        return out
    if t == "list":
        item = _xml_name(shape.member, "member")
        out = []
        for i, child in enumerate(elem):
            if _local(child.tag) != item:
                out.append(f"{path}/{_local(child.tag)}: list items must be <{item}>")
            else:
                out += _check_xml(shape.member, child, f"{path}[{i}]")
        return out
    text = (elem.text or "").strip()
    if len(elem):
        return [f"{path}: a {t} must not have child elements"]
    if t == "timestamp":
        try:
            datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            return []
        except ValueError:
            return [f"{path}: {text!r} is not an ISO-8601 timestamp"]
    if t == "boolean":
        return [] if text in ("true", "false") else [f"{path}: {text!r} is not true/false"]
    if t in ("integer", "long"):
        return [] if text.lstrip("-").isdigit() else [f"{path}: {text!r} is not an integer"]
    if t in ("double", "float"):
        try:
            float(text)
            return []
        except ValueError:
            return [f"{path}: {text!r} is not a number"]
    if t == "string":
        return _check_enum(shape, text, path)
    return []
