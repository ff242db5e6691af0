/* diagnose.c: the backup plugin's diagnostics: failed backup and copy jobs with their status messages and fixes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diagnose.h"
#include "dr/sdk.h"

static const dr_host_api *H;

#define LIST_MAX 10  /* failed jobs named in one finding */
#define PAGES_MAX 10 /* pages of 100 jobs read at most */

void bk_diagnose_init(const dr_host_api *host)
{
    H = host;
}

/* The fix that a job's status message points at. */
static const char *fix_for(const char *msg, int copy)
{
    if (!msg)
        return copy ? "read the job (aws backup describe-copy-job) and copy again once its cause is fixed"
                    : "read the job (aws backup describe-backup-job) and run it again once its cause is fixed";
    if (strcasestr(msg, "kms") || strcasestr(msg, "key"))
        return copy ? "let the backup role use the KMS key of the destination vault (key policy or a grant: "
                      "kms:CreateGrant, kms:GenerateDataKey, kms:Decrypt) and copy again"
                    : "let the backup role use the resource's KMS key (key policy or a grant: kms:CreateGrant, "
                      "kms:Decrypt) and run the job again";
    if (strcasestr(msg, "access") || strcasestr(msg, "authoriz") || strcasestr(msg, "permission") ||
        strcasestr(msg, "privilege"))
        return copy ? "allow the copy in the destination vault's access policy (backup:CopyIntoBackupVault) and give "
                      "the backup role the AWS managed policy AWSBackupServiceRolePolicyForBackup, then copy again"
                    : "give the backup role the AWS managed policy AWSBackupServiceRolePolicyForBackup (or the "
                      "permissions the message names), then run the job again";
    if (strcasestr(msg, "window") || strcasestr(msg, "expired"))
        return "the job did not start or finish within its windows: widen the rule's StartWindowMinutes and "
               "CompletionWindowMinutes or move the schedule away from other jobs of the resource";
    if (strcasestr(msg, "not found") || strcasestr(msg, "does not exist"))
        return "the resource or vault is gone: remove it from the selection or restore it";
    return copy ? "fix the cause the message names, then start the copy again (aws backup start-copy-job)"
                : "fix the cause the message names, then start the backup again (aws backup start-backup-job)";
}

typedef struct scan {
    int copy;
    const char *vault;  /* backup jobs: the vault name; copy jobs: the source vault's name (end of its ARN) */
    dr_resource *res;
    int n;
    dr_buf list;
    char first_fix[400];
} scan;

static int in_resources(dr_resource *res, const char *arn)
{
    size_t n = H->cfg_list_count(res, "resources");

    if (n == 0)
        return 1; /* a tag selection: every job of the vault is the plan's */
    for (size_t i = 0; i < n; i++)
        if (arn && strcmp(H->cfg_list_item(res, "resources", i), arn) == 0)
            return 1;
    return 0;
}

static void scan_page(scan *s, const dr_node *root)
{
    for (const dr_node *j = dr_node_first(dr_node_get(root, s->copy ? "CopyJobs" : "BackupJobs")); j;
         j = dr_node_next(j)) {
        const char *arn = dr_node_str(j, "ResourceArn"), *msg = dr_node_str(j, "StatusMessage");
        const char *id = dr_node_str(j, s->copy ? "CopyJobId" : "BackupJobId");
        double t = 0;
        char when[40];

        if (s->copy) {
            const char *src = dr_node_str(j, "SourceBackupVaultArn");
            const char *colon = src ? strrchr(src, ':') : NULL;
            if (!colon || strcmp(colon + 1, s->vault) != 0)
                continue;
        }
        if (!in_resources(s->res, arn))
            continue;
        s->n++;
        if (s->n > LIST_MAX)
            continue;
        if (dr_node_time(j, "CreationDate", &t) == 0)
            dr_time_format(t, 0, when, sizeof(when));
        else
            snprintf(when, sizeof(when), "?");
        dr_buf_printf(&s->list, "%s%s job %s for %s (created %s): %s; fix: %s", s->n > 1 ? " | " : "",
                      s->copy ? "copy" : "backup", id ? id : "?", arn ? arn : "?", when,
                      msg ? msg : "no status message", fix_for(msg, s->copy));
    }
}

static void diag_jobs(dr_resource *res, dr_aws *c, const char *region, const char *vault, int copy)
{
    const char *name = copy ? "failed_copy_jobs" : "failed_backup_jobs";
    double lookback = H->cfg_float(res, "job_lookback");
    char since[40], span[32], *token = NULL;
    dr_error err;
    scan s;
    int rc = 0;

    memset(&s, 0, sizeof(s));
    dr_buf_init(&s.list);
    s.copy = copy;
    s.vault = vault;
    s.res = res;
    dr_error_clear(&err);
    dr_time_format(dr_now() - lookback, 0, since, sizeof(since));
    dr_duration_format(lookback, span, sizeof(span));
    for (int page = 0; page < PAGES_MAX; page++) {
        dr_buf q = DR_BUF_INIT;
        dr_aws_request req;
        dr_doc *doc = NULL;
        const char *next;

        dr_buf_puts(&q, "maxResults=100&state=FAILED&createdAfter=");
        dr_buf_uri_encode(&q, since, 0);
        if (!copy) {
            dr_buf_puts(&q, "&backupVaultName=");
            dr_buf_uri_encode(&q, vault, 0);
        }
        if (token) {
            dr_buf_puts(&q, "&nextToken=");
            dr_buf_uri_encode(&q, token, 0);
        }
        memset(&req, 0, sizeof(req));
        req.struct_size = sizeof(req);
        req.service = "backup";
        req.operation = copy ? "ListCopyJobs" : "ListBackupJobs";
        req.protocol = DR_AWS_REST_JSON;
        req.method = "GET";
        req.path = copy ? "/copy-jobs/" : "/backup-jobs/";
        req.query = dr_buf_str(&q);
        rc = q.failed ? dr_error_set(&err, DR_ENOMEM, "out of memory") : dr_aws_rest(c, &req, &doc, &err);
        dr_buf_free(&q);
        if (rc != 0)
            break;
        scan_page(&s, doc ? dr_doc_root(doc) : NULL);
        next = doc ? dr_node_str(dr_doc_root(doc), "NextToken") : NULL;
        free(token);
        token = next && *next ? strdup(next) : NULL;
        dr_doc_free(doc);
        if (!token)
            break;
    }
    free(token);
    if (rc != 0) {
        dr_error_prefix(&err, "%s in %s: ", copy ? "ListCopyJobs" : "ListBackupJobs", region);
        dr_report_unknown(H, res, name, "0", &err);
    } else if (s.n == 0) {
        dr_report_number(H, res, name, DR_STATUS_OK, 0, 0, "count", "no FAILED %s job of vault %s in %s in the last %s",
                         copy ? "copy" : "backup", vault, region, span);
    } else {
        /* the SDK's report helpers cut a detail at 512 bytes: the jobs' list is longer */
        dr_buf d = DR_BUF_INIT;
        char ob[32];

        dr_buf_printf(&d, "evidence: %d FAILED %s job(s) of vault %s in %s in the last %s%s: %s", s.n,
                      copy ? "copy" : "backup", vault, region, span, s.n > LIST_MAX ? " (the first listed)" : "",
                      dr_buf_str(&s.list));
        snprintf(ob, sizeof(ob), "%d", s.n);
        dr_report_check(H, res, name, DR_STATUS_CRITICAL, ob, "0", "count",
                        d.failed || s.list.failed ? "(out of memory)" : dr_buf_str(&d));
        dr_buf_free(&d);
    }
    dr_buf_free(&s.list);
}

int bk_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    /* jobs run where the plan runs: the primary region, or the DR region while it serves */
    const char *region = args->serving == DR_SERVING_DR ? H->dr_region(res) : H->primary_region(res);
    const char *vault = args->serving == DR_SERVING_DR && H->cfg_string(res, "dr_vault") ? H->cfg_string(res, "dr_vault")
                                                                                         : H->cfg_string(res, "vault");
    dr_error cerr;
    dr_aws *c;

    (void)err;
    dr_error_clear(&cerr);
    c = dr_host_aws(H, res, region, &cerr);
    if (!c) {
        dr_report_unknown(H, res, "failed_backup_jobs", "0", &cerr);
        dr_report_unknown(H, res, "failed_copy_jobs", "0", &cerr);
        return 0;
    }
    diag_jobs(res, c, region, vault, 0);
    diag_jobs(res, c, region, vault, 1);
    return 0;
}
