#!/usr/bin/env python3
"""The strict response checker used by the fidelity tests finds what botocore's lenient parsers let through."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelcheck  # noqa: E402

S3NS = "http://s3.amazonaws.com/doc/2006-03-01/"


class ModelCheck(unittest.TestCase):
    def test_json(self):
        good = {"Table": {"TableName": "t", "CreationDateTime": 1.5, "Replicas": [
            {"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE", "ReplicaStatusPercentProgress": "0"}]}}
        self.assertEqual(modelcheck.check("dynamodb", "DescribeTable", json.dumps(good)), [])
        bad = {"Table": {"TableName": 3, "CreationDateTime": "2020-01-01T00:00:00Z",
                         "Replicas": [{"Region": "us-west-2", "ReplicaStatus": "FINE"}]}}
        problems = modelcheck.check("dynamodb", "DescribeTable", json.dumps(bad))
        self.assertEqual(len(problems), 4, problems)
        self.assertTrue(any("Replicas[0].Region: not a member" in p for p in problems))

    def test_query_xml(self):
        def body(inner, wrapper="DescribeGlobalClustersResult"):
            return (f'<DescribeGlobalClustersResponse xmlns="x"><{wrapper}><GlobalClusters>{inner}</GlobalClusters>'
                    f'</{wrapper}><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>'
                    f'</DescribeGlobalClustersResponse>')
        good = ("<GlobalClusterMember><GlobalClusterMembers><GlobalClusterMember><IsWriter>true</IsWriter>"
                "<Readers><member>arn</member></Readers></GlobalClusterMember></GlobalClusterMembers>"
                "<FailoverState><Status>failing-over</Status></FailoverState></GlobalClusterMember>")
        self.assertEqual(modelcheck.check("rds", "DescribeGlobalClusters", body(good)), [])
        self.assertEqual(len(modelcheck.check("rds", "DescribeGlobalClusters",
                                              body(good.replace("<member>", "<Reader>").replace("</member>", "</Reader>")))), 1)
        self.assertEqual(len(modelcheck.check("rds", "DescribeGlobalClusters", body(good, "Result"))), 1)
        self.assertEqual(len(modelcheck.check("rds", "DescribeGlobalClusters", body(good.replace("true", "yes")))), 1)

    def test_rest_xml_flattened_lists(self):
        good = (f'<ReplicationConfiguration xmlns="{S3NS}"><Role>r</Role><Rule><ID>a</ID><Status>Enabled</Status>'
                '<Destination><Bucket>arn:aws:s3:::b</Bucket></Destination></Rule><Rule><ID>b</ID></Rule>'
                '</ReplicationConfiguration>')
        self.assertEqual(modelcheck.check("s3", "GetBucketReplication", good), [])
        wrapped = good.replace("<Rule>", "<Rules><Rule>", 1).replace("</ReplicationConfiguration>",
                                                                     "</Rules></ReplicationConfiguration>")
        self.assertTrue(modelcheck.check("s3", "GetBucketReplication", wrapped))


if __name__ == "__main__":
    unittest.main(verbosity=2)
