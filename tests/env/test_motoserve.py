#!/usr/bin/env python3
"""moto as motoserve.py runs it: GetMetricStatistics selects as moto does, in CloudWatch's periods (run under `drenv run`)."""
import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drtest  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def dims(**kw):
    return [{"Name": k, "Value": v} for k, v in kw.items()]


class MetricStatistics(drtest.EnvTestCase):
    def setUp(self):
        super().setUp()
        self.cw = self.env.moto_client("cloudwatch")

    def put(self, ns, metric, value, unit="Count", minutes_ago=1, **d):
        self.cw.put_metric_data(Namespace=ns, MetricData=[{
            "MetricName": metric, "Value": value, "Unit": unit, "Dimensions": dims(**d),
            "Timestamp": NOW - datetime.timedelta(minutes=minutes_ago)}])

    def stats(self, ns, metric, start=None, **kw):
        out = self.cw.get_metric_statistics(Namespace=ns, MetricName=metric, Period=3600,
                                            StartTime=start or NOW - datetime.timedelta(hours=1),
                                            EndTime=NOW + datetime.timedelta(minutes=1),
                                            Statistics=["Sum", "SampleCount"], **kw)["Datapoints"]
        return sorted((p["Sum"], p["SampleCount"]) for p in out)

    def test_namespace_metric_and_dimensions_select_the_datapoints(self):
        self.put("App/A", "Lag", 1, Table="t1", Region="r1")
        self.put("App/A", "Lag", 2, Table="t1", Region="r2")
        self.put("App/A", "Lag", 4, Table="t2", Region="r1")
        self.put("App/A", "Other", 8, Table="t1", Region="r1")
        self.put("App/B", "Lag", 16, Table="t1", Region="r1")
        self.put("App/A", "Lag", 32, unit="Seconds", Table="t1", Region="r1")
        self.put("App/A", "Lag", 64, minutes_ago=180, Table="t1", Region="r1")
        self.assertEqual(self.stats("App/A", "Lag"), [(39.0, 4.0)])
        self.assertEqual(self.stats("App/A", "Lag", Dimensions=dims(Table="t1")), [(35.0, 3.0)])
        self.assertEqual(self.stats("App/A", "Lag", Dimensions=dims(Table="t1", Region="r2")), [(2.0, 1.0)])
        self.assertEqual(self.stats("App/A", "Lag", Dimensions=dims(Table="t3")), [])
        self.assertEqual(self.stats("App/A", "Lag", Unit="Seconds", Dimensions=dims(Table="t1")), [(32.0, 1.0)])
        self.assertEqual(self.stats("App/B", "Lag", Dimensions=dims(Table="t1")), [(16.0, 1.0)])
        self.assertEqual(self.stats("App/A", "Lag", start=NOW - datetime.timedelta(hours=4),
                                    Dimensions=dims(Table="t1", Region="r1")),
                         [(33.0, 2.0), (64.0, 1.0)])

    def test_datapoints_added_after_a_read_are_found(self):
        for i in range(30):
            self.put("App/C", "Lag", i, Table=f"t{i}", Receiver="r")
        self.assertEqual(self.stats("App/C", "Lag", Dimensions=dims(Table="t7", Receiver="r")), [(7.0, 1.0)])
        self.put("App/C", "Lag", 100, Table="t7", Receiver="r")
        self.put("App/C", "Lag", 200, Table="t7", Receiver="other")
        self.assertEqual(self.stats("App/C", "Lag", Dimensions=dims(Table="t7", Receiver="r")), [(107.0, 2.0)])
        self.assertEqual(self.stats("App/C", "Lag", Dimensions=dims(Table="t7")), [(307.0, 3.0)])
        self.assertEqual(self.stats("App/C", "Lag", Dimensions=dims(Receiver="r")), [(535.0, 31.0)])
        self.assertEqual(self.stats("App/C", "Lag"), [(735.0, 32.0)])
        # another region keeps its own datapoints
        other = self.env.moto_client("cloudwatch", drtest.DR)
        self.assertEqual(other.get_metric_statistics(
            Namespace="App/C", MetricName="Lag", Period=3600, StartTime=NOW - datetime.timedelta(hours=1),
            EndTime=NOW + datetime.timedelta(minutes=1), Statistics=["Sum"])["Datapoints"], [])

    def test_periods_start_at_start_time_rounded_down_to_the_minute(self):
        """CloudWatch aggregates the datapoints of one period into one datapoint, its periods counted from StartTime
        rounded down to the minute (StartTime less than 15 days ago): two series written in the same minute give one
        datapoint per minute, whichever was written first (moto alone starts at the first datapoint it holds)."""
        minute = NOW.replace(second=0) - datetime.timedelta(minutes=5)
        for sec, value in ((5, 850.0), (50, 600000.0), (65, 850.0)):
            self.cw.put_metric_data(Namespace="App/D", MetricData=[{
                "MetricName": "Lag", "Value": value, "Unit": "Milliseconds", "Dimensions": dims(Table="t"),
                "Timestamp": minute + datetime.timedelta(seconds=sec)}])
        out = self.cw.get_metric_statistics(Namespace="App/D", MetricName="Lag", Period=60,
                                            StartTime=minute - datetime.timedelta(minutes=10, seconds=-17),
                                            EndTime=NOW + datetime.timedelta(minutes=1), Statistics=["Maximum"],
                                            Dimensions=dims(Table="t"))["Datapoints"]
        got = sorted((p["Timestamp"], p["Maximum"]) for p in out)
        self.assertEqual(got, [(minute, 600000.0), (minute + datetime.timedelta(minutes=1), 850.0)])

    def test_s3_storage_metrics_of_the_buckets(self):
        s3 = self.env.moto_client("s3")
        s3.create_bucket(Bucket="motoserve-metrics")
        s3.put_object(Bucket="motoserve-metrics", Key="k", Body=b"12345")
        self.put("AWS/S3", "ReplicationLatency", 7, unit="Seconds", SourceBucket="motoserve-metrics")
        midnight = NOW.replace(hour=0, minute=0, second=0)
        start = midnight - datetime.timedelta(minutes=1)
        size = self.stats("AWS/S3", "BucketSizeBytes", start=start, Dimensions=dims(BucketName="motoserve-metrics"))
        self.assertEqual(len(size), 1, size)  # moto's own notion of the size (64 for these 5 bytes)
        self.assertGreater(size[0][0], 0)
        self.assertEqual(self.stats("AWS/S3", "NumberOfObjects", start=start,
                                    Dimensions=dims(BucketName="motoserve-metrics")), [(1.0, 1.0)])
        self.assertEqual(self.stats("AWS/S3", "ReplicationLatency", Dimensions=dims(SourceBucket="motoserve-metrics")),
                         [(7.0, 1.0)])


if __name__ == "__main__":
    unittest.main()
