"""Aurora for the test proxy: global failover/switchover (moto answers 500), operation durations, and the PostgreSQL bridge.

- FailoverGlobalCluster / SwitchoverGlobalCluster move the emulated writer of the global cluster.
  DescribeGlobalClusters then shows IsWriter/Readers accordingly (moto marks no member as writer),
  and, for the duration set for the operation, Status failing-over/switching-over and FailoverState.
- DescribeGlobalClusters honours GlobalClusterIdentifier (moto answers every global cluster).
- PromoteReadReplicaDBCluster of a cluster that is not a replica: InvalidDBClusterStateFault
  (moto answers 500).
- PromoteReadReplicaDBCluster and CreateDBCluster keep moto's behaviour; DescribeDBClusters shows
  the cluster `promoting` / `creating` for the duration set for the operation.
- CreateDBCluster with ReplicationSourceIdentifier for aurora-postgresql: refused with
  InvalidParameterCombination (Aurora PostgreSQL replicates across Regions only as a global database;
  cross-Region replica clusters are an Aurora MySQL feature). For other engines moto wrongly requires
  MasterUsername and MasterUserPassword and defaults EngineVersion; the proxy copies them from the source.
- SwitchoverGlobalCluster (and FailoverGlobalCluster without AllowDataLoss) loses nothing: the old
  writer's node is made read-only and its sessions ended, the target's node replays all of its WAL, is
  promoted, and the old writer's node becomes its standby.
- FailoverGlobalCluster with AllowDataLoss promotes the target's node at once. The old primary stays
  a member with SynchronizationStatus pending-resync; as soon as its node runs again (its Region is
  back), the next RDS call starts rebuilding it in the background as a secondary of the new writer; the member
  shows connected once that is done. Its Region is back when its node runs and no `unreachable` fault cuts the
  Region; the `GlobalClusterRebuild` duration delays the rebuild that many seconds after that.
- Before that rebuild, as Aurora does, the old primary's data at the point of failure is kept: a pg_dump of its
  database (with the pair) and a system DB cluster snapshot `rds:unplanned-global-failover-<old cluster>-<UTC
  yyyy-mm-dd-hh-mm>` (SnapshotType automated) that DescribeDBClusterSnapshots lists in the old primary's Region.
- The bridge (drenv --pg): every Aurora cluster in us-east-1 is backed by node a, in us-west-2 by
  node b. Promoting a cluster (PromoteReadReplicaDBCluster, FailoverGlobalCluster,
  SwitchoverGlobalCluster to a target) promotes its region's node; a switchover also makes the old
  writer's node a standby of the new one; CreateDBCluster of a replica (ReplicationSourceIdentifier
  or GlobalClusterIdentifier) in region R of a source in region S makes node R a standby of node S.
  The bridge runs inside the request, so when the call returns the databases have moved.
"""
import os
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import awswire
from awswire import error_response, find, findall, query_response, to_xml, with_xml

VERSION = "2014-10-31"
NODE_OF = {"us-east-1": "a", "us-west-2": "b"}


def arn_region(arn):
    return arn.split(":")[3] if arn.startswith("arn:") else None


def arn_id(arn):
    return arn.rsplit(":", 1)[-1]


class RDS:
    def __init__(self, fx):
        self.fx = fx
        self.lock = threading.RLock()
        self.writer = {}  # global cluster id -> writer cluster ARN, once a failover or switchover moved it
        self.moves = {}  # global cluster id -> in-progress move {kind, from, to, data_loss, until}
        self.busy = {}  # cluster ARN -> (status, until): `promoting`, `creating`
        self.resync = {}  # global cluster id -> old primary ARN left behind by a failover with data loss
        self.rebuilding = set()  # global cluster ids whose old primary is being rebuilt in the background
        self.back_since = {}  # global cluster id -> when the old primary's Region was first seen back
        self.failed_at = {}  # global cluster id -> time of the last failover with data loss
        self.snapshots = []  # the system snapshots taken of old primaries before their rebuild
        self.before = {("rds", "CreateDBCluster"): self.create_cluster,
                       ("rds", "PromoteReadReplicaDBCluster"): self.promote,
                       ("rds", "FailoverGlobalCluster"): self.failover,
                       ("rds", "SwitchoverGlobalCluster"): self.switchover,
                       ("rds", "DescribeDBClusterSnapshots"): self.describe_snapshots}
        self.after = {("rds", "DescribeGlobalClusters"): self.patch_global_clusters,
                      ("rds", "DescribeDBClusters"): self.patch_clusters}
        self.control = [("GET", r"/pg", self.c_pg), ("GET", r"/rds/snapshots", self.c_snapshots)]

    def reset(self):
        with self.lock:
            self.writer.clear()
            self.moves.clear()
            self.busy.clear()
            self.resync.clear()
            self.rebuilding.clear()
            self.back_since.clear()
            self.failed_at.clear()
            self.snapshots.clear()

    def dump(self):
        with self.lock:
            return {"writer": dict(self.writer), "moves": dict(self.moves), "busy": dict(self.busy),
                    "resync": dict(self.resync), "snapshots": [dict(s) for s in self.snapshots]}

    # ---- the bridge --------------------------------------------------------------------------
    def _bridge(self, op, *args):
        """Run a PostgreSQL pair operation when there is a pair; the regions name the nodes."""
        pg = self.fx.pg
        if pg is None or any(r not in NODE_OF for r in args):
            return None
        nodes = [NODE_OF[r] for r in args]
        if op in ("standby", "switchover") and nodes[0] == nodes[1]:
            return None
        if op == "switchover":
            return pg.switchover(nodes[0], nodes[1])
        if op == "running":
            return pg.running(nodes[0])
        return pg.promote(nodes[0]) if op == "promote" else pg.make_standby(nodes[0], nodes[1])

    def c_snapshots(self, m, spec, query):
        with self.lock:
            return 200, {"snapshots": [dict(s) for s in self.snapshots]}

    def c_pg(self, m, spec, query):
        if self.fx.pg is None:
            return 404, {"error": "no PostgreSQL pair (drenv run --pg)"}
        return 200, {"nodes": self.fx.pg.status(), "log": self.fx.pg.log_entries()}

    # ---- helpers -----------------------------------------------------------------------------
    def _clusters(self, region, ident):
        r = self.fx.query_call("rds", region, "DescribeDBClusters", {"DBClusterIdentifier": ident}, VERSION)
        return ET.fromstring(r.body) if r.status == 200 else None

    def _global(self, region, gid):
        r = self.fx.query_call("rds", region, "DescribeGlobalClusters", {"GlobalClusterIdentifier": gid}, VERSION)
        if r.status != 200:
            return None, r
        gcs = findall(ET.fromstring(r.body), "DescribeGlobalClustersResult/GlobalClusters/GlobalClusterMember")
        gcs = [g for g in gcs if find(g, "GlobalClusterIdentifier").text == gid]  # moto ignores the filter
        return (gcs[0] if gcs else None), r

    def _members(self, gc):
        return [find(m, "DBClusterArn").text for m in findall(gc, "GlobalClusterMembers/GlobalClusterMember")]

    def _writer_of(self, gid, members):
        w = self.writer.get(gid)
        return w if w in members else (members[0] if members else None)

    # ---- CreateDBCluster ---------------------------------------------------------------------
    def create_cluster(self, req):
        form = dict(req.form)
        source_arn = form.get("ReplicationSourceIdentifier")
        if source_arn and form.get("Engine", "").lower() == "aurora-postgresql":
            return error_response(req, 400, "InvalidParameterCombination",
                                  "Cross-Region read replica clusters are not supported for the aurora-postgresql "
                                  "engine. Use an Aurora global database (GlobalClusterIdentifier) instead.")
        source_region = arn_region(source_arn) if source_arn else None
        body = None
        if source_arn and source_region and "MasterUsername" not in form:
            src = self._clusters(source_region, arn_id(source_arn))
            if src is None:
                return error_response(req, 404, "DBClusterNotFoundFault", f"DBCluster {source_arn} not found.")
            c = find(src, "DescribeDBClustersResult/DBClusters/DBCluster")
            form["MasterUsername"] = find(c, "MasterUsername").text
            form["MasterUserPassword"] = "replica-inherits-the-source-password"  # moto insists
            form.setdefault("EngineVersion", find(c, "EngineVersion").text)
            body = urllib.parse.urlencode(form).encode()
        elif form.get("GlobalClusterIdentifier"):
            gc, _ = self._global(req.region, form["GlobalClusterIdentifier"])
            members = self._members(gc) if gc is not None else []
            with self.lock:
                writer = self._writer_of(form["GlobalClusterIdentifier"], members)
            source_region = arn_region(writer) if writer else None
        self._drop_automated_snapshots(req.region, form.get("DBClusterIdentifier", ""))
        resp = self.fx.forward(req, body)
        if resp.status != 200:
            return resp
        arn = find(ET.fromstring(resp.body), "CreateDBClusterResult/DBCluster/DBClusterArn").text
        seconds = self.fx.duration("CreateDBCluster")
        if seconds > 0:
            with self.lock:
                self.busy[arn] = ("creating", time.time() + seconds)
        if source_region and source_region != req.region:
            self._bridge("standby", req.region, source_region)
        return resp

    def _drop_automated_snapshots(self, region, ident):
        """moto names a new cluster's automated snapshot after the cluster and the minute, so creating a cluster
        under a name that existed earlier in the same minute (a failback re-creates names) collides with the old
        snapshot. Real RDS has no such clash: drop moto's automated snapshots of that name first."""
        if not ident:
            return
        r = self.fx.query_call("rds", region, "DescribeDBClusterSnapshots",
                               {"DBClusterIdentifier": ident, "SnapshotType": "automated"}, VERSION)
        if r.status != 200:
            return
        for snap in findall(ET.fromstring(r.body),
                            "DescribeDBClusterSnapshotsResult/DBClusterSnapshots/DBClusterSnapshot"):
            sid = find(snap, "DBClusterSnapshotIdentifier")
            if sid is not None:
                self.fx.query_call("rds", region, "DeleteDBClusterSnapshot",
                                   {"DBClusterSnapshotIdentifier": sid.text}, VERSION)

    # ---- PromoteReadReplicaDBCluster ----------------------------------------------------------
    def promote(self, req):
        ident = req.form.get("DBClusterIdentifier", "")
        found = self._clusters(req.region, arn_id(ident))
        cluster = find(found, "DescribeDBClustersResult/DBClusters/DBCluster") if found is not None else None
        if cluster is not None and find(cluster, "ReplicationSourceIdentifier") is None:
            # moto answers 500 here; AWS refuses to promote what is not a replica
            return error_response(req, 400, "InvalidDBClusterStateFault",
                                  f"DB cluster {ident} is not a read replica.")
        resp = self.fx.forward(req)
        if resp.status != 200:
            return resp
        self._bridge("promote", req.region)
        root = ET.fromstring(resp.body)
        cluster = find(root, "PromoteReadReplicaDBClusterResult/DBCluster")
        seconds = self.fx.duration("PromoteReadReplicaDBCluster")
        if seconds > 0:
            with self.lock:
                self.busy[find(cluster, "DBClusterArn").text] = ("promoting", time.time() + seconds)
            find(cluster, "Status").text = "promoting"
        return with_xml(resp, root, awswire.NS["rds"])

    # ---- FailoverGlobalCluster / SwitchoverGlobalCluster --------------------------------------
    def failover(self, req):
        loss = req.form.get("AllowDataLoss") == "true"
        if loss and req.form.get("Switchover") == "true":
            return error_response(req, 400, "InvalidParameterCombination",
                                  "AllowDataLoss and Switchover cannot be used together.")
        return self._move(req, "failover" if loss else "switchover")

    def switchover(self, req):
        return self._move(req, "switchover")

    def _move(self, req, kind):
        gid, target = req.form.get("GlobalClusterIdentifier"), req.form.get("TargetDbClusterIdentifier")
        if not gid or not target:
            return error_response(req, 400, "MissingParameter",
                                  "GlobalClusterIdentifier and TargetDbClusterIdentifier are required.")
        gc, raw = self._global(req.region, gid)
        if gc is None:
            return raw if raw.status != 200 else error_response(
                req, 404, "GlobalClusterNotFoundFault", f"Global cluster {gid} not found.")
        members = self._members(gc)
        match = [a for a in members if a == target or arn_id(a) == target]
        if not match:
            return error_response(req, 404, "DBClusterNotFoundFault",
                                  f"DBCluster {target} is not a member of global cluster {gid}.")
        target = match[0]
        op = "SwitchoverGlobalCluster" if req.operation == "SwitchoverGlobalCluster" else "FailoverGlobalCluster"
        with self.lock:
            move = self.moves.get(gid)
            if move and (move["running"] or move["until"] > time.time()):
                return error_response(req, 400, "InvalidGlobalClusterStateFault",
                                      f"Global cluster {gid} is already failing over.")
            old = self._writer_of(gid, members)
            if old == target:
                return error_response(req, 400, "InvalidGlobalClusterStateFault",
                                      f"DBCluster {target} is already the primary cluster of global cluster {gid}.")
            # accepted: the global cluster shows the move (FailoverState) from now on, as AWS does
            self.moves[gid] = {"kind": kind, "from": old, "to": target, "data_loss": kind == "failover",
                               "until": 0, "running": True}
        try:
            if kind == "switchover":
                self._bridge("switchover", arn_region(old), arn_region(target))
            else:
                self._bridge("promote", arn_region(target))
        except Exception:
            with self.lock:
                self.moves.pop(gid, None)
            raise
        with self.lock:
            self.writer[gid] = target
            if kind == "failover" and old and old != target:
                self.resync[gid] = old
                self.failed_at[gid] = time.time()
                self.back_since.pop(gid, None)
            else:
                self.resync.pop(gid, None)
            self.moves[gid].update(running=False, until=time.time() + self.fx.duration(op))
            self._patch_global(gc, in_call=True)
        gc.tag = "GlobalCluster"  # the same structure, under the name the Failover/Switchover result uses
        return query_response("rds", req.operation, to_xml(gc))

    # ---- the old primary of a failover with data loss ------------------------------------------
    def settle(self):
        """Start rebuilding, as a secondary of the writer, an old primary whose Region is back (its node runs).
        Aurora does it in the background: the member shows pending-resync until the rebuild is done."""
        with self.lock:
            pending = [(g, o) for g, o in self.resync.items() if g not in self.rebuilding]
        for gid, old in pending:
            writer = self.writer.get(gid)
            if not writer:
                continue
            if self.fx.region_cut(arn_region(old)) or (
                    not self._bridge("running", arn_region(old)) and self.fx.pg is not None):
                with self.lock:
                    self.back_since.pop(gid, None)
                continue
            with self.lock:
                back = self.back_since.setdefault(gid, time.time())
            if time.time() < back + self.fx.duration("GlobalClusterRebuild"):
                continue
            with self.lock:
                if gid in self.rebuilding or self.resync.get(gid) != old:
                    continue
                self.rebuilding.add(gid)
            threading.Thread(target=self._rebuild, args=(gid, old, writer), daemon=True).start()

    def _rebuild(self, gid, old, writer):
        try:
            self._keep_old_primary(gid, old)
            self._bridge("standby", arn_region(old), arn_region(writer))
            with self.lock:
                if self.resync.get(gid) == old:
                    del self.resync[gid]
        except Exception:  # noqa: BLE001 - stays pending-resync; the next RDS call tries again
            pass
        finally:
            with self.lock:
                self.rebuilding.discard(gid)

    def _keep_old_primary(self, gid, old):
        """Aurora's snapshot of the old storage volume at the point of failure, taken before the rebuild: a system
        snapshot of the old primary cluster, and with the pair a pg_dump of its node (its data before pg_rewind)."""
        with self.lock:
            failed_at = self.failed_at.get(gid, 0)
            if any(s["GlobalCluster"] == gid and s["DBClusterArn"] == old and s["FailedAt"] == failed_at
                   for s in self.snapshots):
                return
        region, ident = arn_region(old), arn_id(old)
        now = time.time()
        sid = f"rds:unplanned-global-failover-{ident}-{time.strftime('%Y-%m-%d-%H-%M', time.gmtime(now))}"
        found = self._clusters(region, ident)
        c = find(found, "DescribeDBClustersResult/DBClusters/DBCluster") if found is not None else None
        text = (lambda name, default=None: (find(c, name).text if c is not None and find(c, name) is not None
                                            else default))
        snap = {"DBClusterSnapshotIdentifier": sid, "DBClusterIdentifier": ident, "Region": region,
                "DBClusterSnapshotArn": f"arn:aws:rds:{region}:{self.fx.account_id}:cluster-snapshot:{sid}",
                "SnapshotCreateTime": now, "Engine": text("Engine", "aurora-postgresql"),
                "EngineVersion": text("EngineVersion"), "MasterUsername": text("MasterUsername"),
                "Port": text("Port"), "ClusterCreateTime": text("ClusterCreateTime"),
                "StorageEncrypted": text("StorageEncrypted", "false"), "KmsKeyId": text("KmsKeyId"),
                "GlobalCluster": gid, "DBClusterArn": old, "FailedAt": failed_at, "dump": None, "lsn": None}
        node = NODE_OF.get(region)
        if self.fx.pg is not None and node:
            path = os.path.join(self.fx.pg.root, "snapshots", sid.replace(":", "_") + ".sql")
            snap["lsn"] = self.fx.pg.keep_copy(node, path)
            snap["dump"] = path
        with self.lock:
            self.snapshots.append(snap)

    # ---- DescribeDBClusterSnapshots ------------------------------------------------------------
    def _snapshot_xml(self, s):
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(s["SnapshotCreateTime"]))
        parts = [awswire.el("DBClusterSnapshotIdentifier", s["DBClusterSnapshotIdentifier"]),
                 awswire.el("DBClusterIdentifier", s["DBClusterIdentifier"]),
                 awswire.el("SnapshotCreateTime", created), awswire.el("Engine", s["Engine"]),
                 awswire.el("EngineMode", "provisioned"), awswire.el("AllocatedStorage", 1),
                 awswire.el("Status", "available"), awswire.el("Port", s["Port"]),
                 awswire.el("ClusterCreateTime", s["ClusterCreateTime"]),
                 awswire.el("MasterUsername", s["MasterUsername"]), awswire.el("EngineVersion", s["EngineVersion"]),
                 awswire.el("LicenseModel", "postgresql-license"), awswire.el("SnapshotType", "automated"),
                 awswire.el("PercentProgress", 100), awswire.el("StorageEncrypted", s["StorageEncrypted"]),
                 awswire.el("KmsKeyId", s["KmsKeyId"]),
                 awswire.el("DBClusterSnapshotArn", s["DBClusterSnapshotArn"]),
                 awswire.el("IAMDatabaseAuthenticationEnabled", False), "<TagList></TagList>"]
        return "<DBClusterSnapshot>" + "".join(parts) + "</DBClusterSnapshot>"

    def _snapshots_for(self, req):
        f = req.form
        kind = f.get("SnapshotType")
        if kind and kind != "automated" or f.get("Marker"):
            return []
        cluster, sid = f.get("DBClusterIdentifier"), f.get("DBClusterSnapshotIdentifier")
        with self.lock:
            return [s for s in self.snapshots if s["Region"] == req.region
                    and (not cluster or arn_id(cluster) == s["DBClusterIdentifier"])
                    and (not sid or sid in (s["DBClusterSnapshotIdentifier"], s["DBClusterSnapshotArn"]))]

    def describe_snapshots(self, req):
        """moto's snapshots plus the system snapshots of old primaries (moto knows nothing of them)."""
        mine = self._snapshots_for(req)
        if not mine:
            return None
        sid = req.form.get("DBClusterSnapshotIdentifier")
        if sid:  # a snapshot moto does not hold: the proxy answers alone
            return query_response("rds", req.operation, "<DBClusterSnapshots>" + "".join(
                self._snapshot_xml(s) for s in mine) + "</DBClusterSnapshots>")
        resp = self.fx.forward(req)
        if resp.status != 200:
            return resp
        root = ET.fromstring(resp.body)
        holder = find(root, "DescribeDBClusterSnapshotsResult/DBClusterSnapshots")
        if holder is None:
            holder = ET.SubElement(find(root, "DescribeDBClusterSnapshotsResult"), "DBClusterSnapshots")
        for s in mine:
            holder.append(ET.fromstring(self._snapshot_xml(s)))
        return with_xml(resp, root, awswire.NS["rds"])

    # ---- Describe* answers -------------------------------------------------------------------
    def _patch_global(self, gc, in_call=False):
        """Set IsWriter/Readers from the emulated writer; Status and FailoverState while a move runs."""
        gid = find(gc, "GlobalClusterIdentifier").text
        members = findall(gc, "GlobalClusterMembers/GlobalClusterMember")
        arns = [find(m, "DBClusterArn").text for m in members]
        writer = self._writer_of(gid, arns)
        for m, arn in zip(members, arns):
            find(m, "IsWriter").text = "true" if arn == writer else "false"
            sync = find(m, "SynchronizationStatus")
            if sync is None:
                sync = ET.SubElement(m, "SynchronizationStatus")
            sync.text = "pending-resync" if self.resync.get(gid) == arn else "connected"
            readers = find(m, "Readers")
            if readers is None:
                readers = ET.SubElement(m, "Readers")
            for child in list(readers):
                readers.remove(child)
            if arn == writer:
                for other in arns:
                    if other != arn:
                        ET.SubElement(readers, "member").text = other
        move = self.moves.get(gid)
        if move and (in_call or move["running"] or move["until"] > time.time()):
            find(gc, "Status").text = "failing-over" if move["kind"] == "failover" else "switching-over"
            fs = ET.SubElement(gc, "FailoverState")
            ET.SubElement(fs, "Status").text = "failing-over"
            ET.SubElement(fs, "FromDbClusterArn").text = move["from"]
            ET.SubElement(fs, "ToDbClusterArn").text = move["to"]
            ET.SubElement(fs, "IsDataLossAllowed").text = "true" if move["data_loss"] else "false"
        elif move:
            del self.moves[gid]

    def patch_global_clusters(self, req, resp):
        self.settle()
        root = ET.fromstring(resp.body)
        wanted = req.form.get("GlobalClusterIdentifier")
        wanted = wanted.rsplit(":", 1)[-1] if wanted else None
        with self.lock:
            holder = find(root, "DescribeGlobalClustersResult/GlobalClusters")
            for gc in findall(root, "DescribeGlobalClustersResult/GlobalClusters/GlobalClusterMember"):
                if wanted and find(gc, "GlobalClusterIdentifier").text != wanted:
                    holder.remove(gc)  # moto answers every global cluster, whatever was asked
                else:
                    self._patch_global(gc)
            if wanted and not len(holder):
                return error_response(req, 404, "GlobalClusterNotFoundFault", f"Global cluster {wanted} not found.")
        return with_xml(resp, root, awswire.NS["rds"])

    def patch_clusters(self, req, resp):
        self.settle()
        root = ET.fromstring(resp.body)
        changed = False
        now = time.time()
        with self.lock:
            for c in findall(root, "DescribeDBClustersResult/DBClusters/DBCluster"):
                arn = find(c, "DBClusterArn").text
                status, until = self.busy.get(arn, (None, 0))
                if until > now:
                    find(c, "Status").text = status
                    changed = True
                elif status:
                    del self.busy[arn]
        return with_xml(resp, root, awswire.NS["rds"]) if changed else None

