#!/usr/bin/env python3
"""Run a moto server on a free loopback port and write that port to a file (used by drenv)."""
import argparse
import datetime
import functools
import logging
import os
import signal
import sys


# moto's only CloudWatch metric provider (S3) makes these two daily storage metrics, for every bucket.
S3_STORAGE_METRICS = {("AWS/S3", "BucketSizeBytes"), ("AWS/S3", "NumberOfObjects")}


def fast_metric_statistics():
    """GetMetricStatistics that reads only the datapoints the query can match, as CloudWatch's cost does.

    moto's GetMetricStatistics builds the metrics its providers publish (S3: two per bucket of the account) and
    then tests every datapoint of the region against the query: with thousands of resources each publishing
    a datapoint, every call costs milliseconds, and a read of each resource's metric grows with the square of
    the estate. The same function now runs on the datapoints that can match, in moto's order: those of the
    asked namespace and metric that carry the query's first dimension (name and value), from an index kept
    up to date as datapoints are added, plus what the providers could answer for that metric. moto's own
    filter then applies as before; the periods are CloudWatch's (see in_periods), not moto's."""
    import threading

    from moto.cloudwatch import models as cw
    from moto.core.common_models import CloudWatchMetricProvider

    original = cw.CloudWatchBackend.get_metric_statistics
    lock = threading.Lock()

    class Candidates:  # all that get_metric_statistics reads of its backend
        def __init__(self, data):
            self.data = data

        def get_all_metrics(self):
            return self.data

    def index_of(backend):
        """{(namespace, metric): [datapoints]}, {(namespace, metric, dimension, value): [datapoints]}, and the
        metrics with a dimension without value (which matches any value), up to date with backend.metric_data."""
        data = backend.metric_data
        with lock:
            ix = backend.__dict__.get("_motoserve_index")
            if ix is None or ix["list"] is not data or ix["n"] > len(data):
                ix = {"list": data, "n": 0, "metric": {}, "dim": {}, "wild": set()}
                backend._motoserve_index = ix
            for md in data[ix["n"]:]:
                key = (md.namespace, md.name)
                ix["metric"].setdefault(key, []).append(md)
                for d in md.dimensions:
                    if d.value is None:
                        ix["wild"].add(key)
                    else:
                        ix["dim"].setdefault(key + (d.name, d.value), []).append(md)
            ix["n"] = len(data)
            return ix

    def get_metric_statistics(self, namespace, metric_name, start_time, end_time, period, stats, dimensions,
                              unit=None):
        ix = index_of(self)
        key = (namespace, metric_name)
        first = next((d for d in dimensions or [] if d.get("Value") is not None), None)
        if first is None or key in ix["wild"]:
            data = list(ix["metric"].get(key, []))
        else:
            data = list(ix["dim"].get(key + (first["Name"], first["Value"]), []))
        for provider in CloudWatchMetricProvider.__subclasses__():
            if provider.__name__ == "S3Backend" and key not in S3_STORAGE_METRICS:
                continue
            data.extend(provider.get_cloudwatch_metrics(self.account_id, region=self.region_name))
        return in_periods(Candidates(data), namespace, metric_name, start_time, end_time, period, stats, dimensions,
                          unit)

    def in_periods(backend, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit):
        """moto's selection and statistics, in CloudWatch's periods: moto starts its periods at the first datapoint
        it holds, CloudWatch at StartTime rounded down (to the minute when StartTime is less than 15 days ago, to
        5 minutes up to 63 days, to the hour beyond), so that datapoints of one minute make one datapoint."""
        if start_time >= end_time or period <= 0:  # moto's errors
            return original(backend, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit)
        now = datetime.datetime.now(start_time.tzinfo) if start_time.tzinfo else datetime.datetime.utcnow()
        age = (now - start_time).total_seconds()
        grain = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
        origin = start_time - datetime.timedelta(seconds=start_time.timestamp() % grain)
        buckets = {}
        for md in backend.get_all_metrics():
            if (md.namespace != namespace or md.name != metric_name or not origin <= md.timestamp < end_time
                    or (unit and md.unit != unit) or (dimensions and not md.filter(None, None, dimensions))):
                continue
            k = int((md.timestamp - origin).total_seconds() // period)
            buckets.setdefault(k, []).append(md)
        out = []
        for k in sorted(buckets):
            st = cw.Statistics(stats, origin + datetime.timedelta(seconds=k * period))
            st.metric_data = buckets[k]
            st.unit = buckets[k][-1].unit
            out.append(st)
        return out

    cw.CloudWatchBackend.get_metric_statistics = get_metric_statistics


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file", required=True, help="where to write the bound port")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    # Imported here so that a missing moto gives a short message, not a traceback.
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as e:
        print(f"motoserve: moto server mode is not importable: {e}", file=sys.stderr)
        return 2

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with its host -> backend lookup remembered: moto scans its module list and every
        backend's URL patterns on each request (an eighth of its time per request), for an answer that depends
        on the host name alone."""

        @functools.lru_cache(maxsize=4096)
        def get_backend_for_host(self, host):
            return super().get_backend_for_host(host)

    fast_metric_statistics()
    # The proxy keeps the request log; moto's own access log line per request costs a tenth of its time.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Port 0: the kernel picks a free port, so parallel runs never collide.
    srv = make_server(args.host, 0, Dispatcher(create_backend_app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_port))
    os.rename(tmp, args.port_file)  # atomic: the launcher never reads a half-written port
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
