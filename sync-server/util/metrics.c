/*
** metrics.c — counters, histograms and their Prometheus text (metrics.h).
*/
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fieldsync_proto.h"

/* Bucket upper bounds in microseconds: 0.5 ms to 10 s covers a push of
** one change on an idle server up to a 500-change batch on a slow disk. */
static const int64_t bounds_us[] = {500,    1000,   2500,    5000,    10000,
                                    25000,  50000,  100000,  250000,  500000,
                                    1000000, 2500000, 5000000, 10000000};
#define N_BOUNDS (sizeof bounds_us / sizeof bounds_us[0])

typedef struct hist {
    uint64_t bucket[N_BOUNDS];      /* observations <= bound (not cumulative) */
    uint64_t count;
    uint64_t sum_us;
} hist;

#define N_HTTP 6                    /* 1xx..5xx, [0] other */

struct fsv_metrics {
    uint64_t c[FSV_C__COUNT];
    hist h[FSV_H__COUNT];
    uint64_t refused[FDSP_E__COUNT];
    uint64_t errors[FDSP_E__COUNT];
    uint64_t http[N_HTTP];
    int64_t start_s;                /* process start, Unix seconds */
};

static const struct {
    const char *name, *help;
} counters[FSV_C__COUNT] = {
    [FSV_C_CONNECTS] = {"fieldsync_sync_connections_total",
                        "Device sync WebSockets established."},
    [FSV_C_PUSHES] = {"fieldsync_pushes_total", "Push messages acknowledged."},
    [FSV_C_PULLS] = {"fieldsync_pulls_total", "Pull messages answered."},
    [FSV_C_MERGED] = {"fieldsync_changes_merged_total",
                      "Pushed changes merged into the store as new history rows."},
    [FSV_C_DUPLICATES] = {"fieldsync_changes_duplicate_total",
                          "Pushed changes the store already had (re-sends)."},
    [FSV_C_CONFLICTS] = {"fieldsync_conflicts_total",
                         "Merges that kept two concurrent values as a conflict."},
    [FSV_C_SENT] = {"fieldsync_changes_sent_total",
                    "Changes sent to devices in pull answers."},
    [FSV_C_NOTIFIES] = {"fieldsync_notifies_total",
                        "Live notify messages sent to devices."},
    [FSV_C_LIVE_SENT] = {"fieldsync_changes_live_total",
                         "Changes sent unasked to caught-up devices (live"
                         " batches)."},
    [FSV_C_RATE_LIMITED] = {"fieldsync_rate_limited_total",
                            "Times a sync connection was paused by the message"
                            " rate limit."},
    [FSV_C_AUTH_FAILED] = {"fieldsync_auth_failures_total",
                           "Credentials refused (sync upgrades, /metrics)."},
    [FSV_C_AUTH_BLOCKED] = {"fieldsync_auth_blocked_total",
                            "Requests refused because their address failed to"
                            " authenticate too often."},
    [FSV_C_TLS_FAILED] = {"fieldsync_tls_handshake_failures_total",
                          "TLS handshakes ended by a fatal alert (sent or"
                          " received)."},
    [FSV_C_BLOB_CHUNKS_IN] = {"fieldsync_blob_chunks_received_total",
                              "Photo chunks (blob_put) written to disk."},
    [FSV_C_BLOB_BYTES_IN] = {"fieldsync_blob_bytes_received_total",
                             "Photo bytes written to disk from devices."},
    [FSV_C_BLOB_BYTES_OUT] = {"fieldsync_blob_bytes_sent_total",
                              "Photo bytes sent to devices."},
    [FSV_C_BLOBS_STORED] = {"fieldsync_blobs_stored_total",
                            "Photos made whole and verified by SHA-256."},
    [FSV_C_BLOBS_REFUSED] = {"fieldsync_blobs_refused_total",
                             "Photo uploads or fetches refused (limit, "
                             "permission, hash)."},
    [FSV_C_REMOTE_NOTIFIED] = {"fieldsync_remote_heads_notified_total",
                               "Other processes' commits learned by a store notification."},
};

static const struct {
    const char *name, *help;
} hists[FSV_H__COUNT] = {
    [FSV_H_PUSH] = {"fieldsync_push_duration_seconds",
                    "A push from message to queued ack."},
    [FSV_H_PULL] = {"fieldsync_pull_duration_seconds",
                    "A pull from message to queued changes."},
    [FSV_H_FANOUT] = {"fieldsync_fanout_duration_seconds",
                      "Live fan-out after a push commits: deciding and queueing"
                      " every peer's notify."},
    [FSV_H_STORE_WRITE] = {"fieldsync_store_write_transaction_seconds",
                           "A push's store transaction, BEGIN to COMMIT."},
    [FSV_H_STORE_READ] = {"fieldsync_store_read_transaction_seconds",
                          "A pull's read snapshot."},
};

int64_t fsv_metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

fsv_metrics *fsv_metrics_new(void)
{
    fsv_metrics *m = calloc(1, sizeof *m);
    if (m)
        m->start_s = (int64_t)time(NULL);
    return m;
}

void fsv_metrics_free(fsv_metrics *m) { free(m); }

void fsv_metrics_add(fsv_metrics *m, enum fsv_counter c, uint64_t n)
{
    if (m && (unsigned)c < FSV_C__COUNT)
        m->c[c] += n;
}

void fsv_metrics_observe(fsv_metrics *m, enum fsv_hist h, int64_t us)
{
    if (!m || (unsigned)h >= FSV_H__COUNT)
        return;
    if (us < 0)
        us = 0;
    hist *x = &m->h[h];
    for (size_t i = 0; i < N_BOUNDS; i++)
        if (us <= bounds_us[i]) {
            x->bucket[i]++;
            break;
        }
    x->count++;
    x->sum_us += (uint64_t)us;
}

void fsv_metrics_refused(fsv_metrics *m, int code)
{
    if (m && code > 0 && code < FDSP_E__COUNT)
        m->refused[code]++;
}

void fsv_metrics_error_sent(fsv_metrics *m, int code)
{
    if (m && code > 0 && code < FDSP_E__COUNT)
        m->errors[code]++;
}

void fsv_metrics_http(fsv_metrics *m, int status)
{
    if (m)
        m->http[status >= 100 && status < 600 ? status / 100 : 0]++;
}

/* ---- Rendering -------------------------------------------------------------- */

static void header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_hist(FILE *f, const char *name, const hist *x)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cum += x->bucket[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name,
                (double)bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name,
            (unsigned long long)x->count);
    fprintf(f, "%s_sum %.6f\n", name, (double)x->sum_us / 1e6);
    fprintf(f, "%s_count %llu\n", name, (unsigned long long)x->count);
}

/* A counter labelled by FDSP_E_* code name; every known code is listed
** (zeros included), so a rate() over it never starts from a gap. */
static void render_codes(FILE *f, const char *name, const char *help,
                         const uint64_t *v)
{
    header(f, name, "counter", help);
    for (int code = 1; code < FDSP_E__COUNT; code++)
        fprintf(f, "%s{code=\"%s\"} %llu\n", name, fdsp_errname(code),
                (unsigned long long)v[code]);
}

int fsv_metrics_render(const fsv_metrics *m, const fsv_gauges *g, char **out,
                       size_t *len)
{
    static const fsv_metrics zero;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return -1;
    if (!m)
        m = &zero;
    header(f, "fieldsync_up", "gauge", "1 while the store answers reads.");
    fprintf(f, "fieldsync_up %d\n", g->store_up ? 1 : 0);
    header(f, "fieldsync_start_time_seconds", "gauge",
           "When the server process started (Unix time).");
    fprintf(f, "fieldsync_start_time_seconds %lld\n", (long long)m->start_s);
    header(f, "fieldsync_connected_devices", "gauge",
           "Device sync WebSockets open now.");
    fprintf(f, "fieldsync_connected_devices %lld\n", (long long)g->devices);
    header(f, "fieldsync_connected_dashboards", "gauge",
           "Dashboard /live sockets open now.");
    fprintf(f, "fieldsync_connected_dashboards %lld\n", (long long)g->dashboards);
    header(f, "fieldsync_history_head", "gauge",
           "The store's history head (last global sequence number).");
    fprintf(f, "fieldsync_history_head %lld\n", (long long)g->head);
    for (int c = 0; c < FSV_C__COUNT; c++) {
        header(f, counters[c].name, "counter", counters[c].help);
        fprintf(f, "%s %llu\n", counters[c].name, (unsigned long long)m->c[c]);
    }
    render_codes(f, "fieldsync_refused_changes_total",
                 "Pushed changes refused in an ack, by error code.", m->refused);
    render_codes(f, "fieldsync_errors_sent_total",
                 "Error messages sent to devices, by error code.", m->errors);
    header(f, "fieldsync_http_responses_total", "counter",
           "HTTPS responses (API, dashboard, health, metrics), by status class.");
    static const char *const cls[N_HTTP] = {"other", "1xx", "2xx",
                                            "3xx",   "4xx", "5xx"};
    for (int i = 1; i < N_HTTP; i++)
        fprintf(f, "fieldsync_http_responses_total{class=\"%s\"} %llu\n",
                cls[i], (unsigned long long)m->http[i]);
    for (int h = 0; h < FSV_H__COUNT; h++) {
        header(f, hists[h].name, "histogram", hists[h].help);
        render_hist(f, hists[h].name, &m->h[h]);
    }
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}
