#!/usr/bin/env python3
"""Run a moto server on a free loopback port and write that port to a file (used by drenv)."""
import argparse
import functools
import logging
import os
import signal
import sys


# moto's only CloudWatch metric provider (S3) makes these two daily storage metrics, for every bucket.
S3_STORAGE_METRICS = {("AWS/S3", "BucketSizeBytes"), ("AWS/S3", "NumberOfObjects")}


def fast_metric_statistics():
    """GetMetricStatistics without building every provided metric on each call.

    moto's GetMetricStatistics filters all datapoints of the region, after building the metrics its providers
    publish: S3 makes two per bucket of the account, on every call. With a few hundred buckets that is most of
    the call, for datapoints that only a query for those two metrics could match. The same function now runs
    on the datapoints of the asked namespace and metric (in the same order) plus what the providers could
    answer for it, so the answers are the same."""
    from moto.cloudwatch import models as cw
    from moto.core.common_models import CloudWatchMetricProvider

    original = cw.CloudWatchBackend.get_metric_statistics

    class Candidates:  # all that get_metric_statistics reads of its backend
        def __init__(self, data):
            self.data = data

        def get_all_metrics(self):
            return self.data

    def get_metric_statistics(self, namespace, metric_name, *args, **kwargs):
        data = [md for md in self.metric_data if md.namespace == namespace and md.name == metric_name]
        for provider in CloudWatchMetricProvider.__subclasses__():
            if provider.__name__ == "S3Backend" and (namespace, metric_name) not in S3_STORAGE_METRICS:
                continue
            data.extend(provider.get_cloudwatch_metrics(self.account_id, region=self.region_name))
        return original(Candidates(data), namespace, metric_name, *args, **kwargs)

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
