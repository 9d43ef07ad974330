/*
** msg.c — allocation and release of fdsp_msg.
*/
#include "proto_internal.h"

#include <stdlib.h>

fdsp_msg *fdsp_msg_new(fdsp_type type)
{
    if (fdsp_typename(type) == NULL)
        return NULL;
    fdsp_msg *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->type = type;
    m->version = FDSP_VERSION;
    return m;
}

void fdsp_msg_free(fdsp_msg *m)
{
    if (m == NULL)
        return;
    free(m->device);
    free(m->user);
    free(m->role);
    free(m->client);
    /* pooled (fdsp_decode_pooled): the strings go with the pool */
    for (size_t i = 0; i < m->n_changes && m->changes != NULL; i++) {
        if (m->pool != NULL)
            fdsp_vv_clear(&m->changes[i].vv);
        else
            fdsp_change_clear(&m->changes[i]);
    }
    free(m->changes);
    fdsp__pool_free(m->pool);
    for (size_t i = 0; i < m->n_refused && m->refused != NULL; i++)
        free(m->refused[i].message);
    free(m->refused);
    free(m->stamps);
    for (size_t i = 0; i < m->n_notices && m->notices != NULL; i++) {
        free(m->notices[i].kind);
        free(m->notices[i].field);
        free(m->notices[i].owner);
    }
    free(m->notices);
    free(m->store);
    free(m->sums);
    free(m->buckets);
    for (size_t i = 0; i < m->n_records && m->records != NULL; i++) {
        free(m->records[i].table);
        free(m->records[i].record);
    }
    free(m->records);
    free(m->message);
    free(m->sha);
    free(m->data);
    free(m);
}
