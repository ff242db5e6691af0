#!/usr/bin/env bash
# checklist.sh: the DR setup guide's verification commands as an operator runs them today, one aws CLI process per call (17 calls).
#
# Usage: bench/checklist.sh HEALTH_CHECK_ID      (in a drenv environment: AWS_ENDPOINT_URL and keys exported)
#
# The commands are the guide's, in its order: "5. Verify Setup" (5 calls), the "Monthly Verification" checklist
# (10 calls) and the AWS Backup "Verification" block that the monthly task "Run backup verification" points to
# (2 calls). Two changes only: --endpoint-url on every call (the CLI v1 ignores AWS_ENDPOINT_URL for rds), and the
# bucket name of conf/dr-agent.conf, which carries no account id suffix (the guide's sts call is still made).
# Exit code: the number of calls that failed.
set -u
hc=${1:?usage: checklist.sh HEALTH_CHECK_ID}
aws=(aws --endpoint-url "${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL is not set}")
failed=0
call() { "${aws[@]}" "$@" || failed=$((failed + 1)); }

# ---- 5. Verify Setup ----
call dynamodb describe-table \
  --table-name roadcall-incidents-prod \
  --region us-east-1 \
  --query 'Table.Replicas'

call rds describe-db-clusters \
  --db-cluster-identifier roadcall-aurora-prod-replica \
  --region us-west-2 \
  --query 'DBClusters[0].Status'

account=$("${aws[@]}" sts get-caller-identity --query Account --output text) || failed=$((failed + 1))
call s3api get-bucket-replication \
  --bucket roadcall-call-recordings-prod \
  --region us-east-1

call backup list-recovery-points-by-backup-vault \
  --backup-vault-name roadcall-backup-vault-prod \
  --region us-east-1 \
  --max-results 5

# ---- Monthly Verification ----
# 1. Check DynamoDB replication status
for table in users incidents vendors tracking-sessions call-records; do
  echo "Checking roadcall-$table-prod..."
  call dynamodb describe-table \
    --table-name "roadcall-$table-prod" \
    --region us-east-1 \
    --query 'Table.Replicas[].{Region:RegionName,Status:ReplicaStatus}'
done

# 2. Check Aurora replication lag
call cloudwatch get-metric-statistics \
  --namespace AWS/RDS \
  --metric-name AuroraGlobalDBReplicationLag \
  --dimensions Name=DBClusterIdentifier,Value=roadcall-aurora-prod-replica \
  --start-time "$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%S)" \
  --end-time "$(date -u +%Y-%m-%dT%H:%M:%S)" \
  --period 300 \
  --statistics Average \
  --region us-west-2

# 3. Check S3 replication
account=$("${aws[@]}" sts get-caller-identity --query Account --output text) || failed=$((failed + 1))
call s3api get-bucket-replication \
  --bucket roadcall-call-recordings-prod \
  --region us-east-1

# 4. Check recent backups
call backup list-recovery-points-by-backup-vault \
  --backup-vault-name roadcall-backup-vault-prod \
  --region us-east-1 \
  --by-created-after "$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%S)"

# 5. Check health checks
call route53 get-health-check-status \
  --health-check-id "$hc"

# ---- AWS Backup: Verification ----
# List recent backups
call backup list-recovery-points-by-backup-vault \
  --backup-vault-name roadcall-backup-vault-prod \
  --region us-east-1 \
  --by-created-after "$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%S)"

# Check backup job status
call backup list-backup-jobs \
  --by-backup-vault-name roadcall-backup-vault-prod \
  --by-created-after "$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%S)" \
  --region us-east-1

echo "account ${account:-?}: $failed of 17 calls failed"
exit "$failed"
