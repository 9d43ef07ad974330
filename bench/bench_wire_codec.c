/*
** bench_wire_codec.c — the codec alone on message files (pages written by
** bench_wire with BENCH_WIRE_DUMP): decode each ROUNDS times and encode
** the decoded message ROUNDS times, per record.  It uses only fdsp_decode
** and fdsp_encode (fdsp_encode_opt with -DWIRE_GROUPED), so it also builds
** against an older commit's protocol/src: bench/wire_codec.sh compiles it
** both ways and counts instructions with callgrind.
**
**   bench_wire_codec ROUNDS FILE...
*/
#include "fieldsync_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int rounds = atoi(argv[1]);
    size_t records = 0, bytes = 0;
    double td = 0, te = 0;
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0)
            return 1;
        long n = ftell(f);
        rewind(f);
        char *b = malloc((size_t)n + 1);
        if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
            return 1;
        fclose(f);
        bytes += (size_t)n;
        fdsp_msg *m = NULL;
        if (fdsp_decode(b, (size_t)n, &m, NULL, 0) != FDSP_OK) {
            fprintf(stderr, "refused: %s\n", argv[i]);
            return 1;
        }
        const char *last = NULL;
        for (size_t k = 0; k < m->n_changes; k++) {
            if (last == NULL || strcmp(last, m->changes[k].record) != 0)
                records++;
            last = m->changes[k].record;
        }
        double t0 = cpu_ns();
        for (int r = 0; r < rounds; r++) {
            fdsp_msg *x = NULL;
            if (fdsp_decode(b, (size_t)n, &x, NULL, 0) != FDSP_OK)
                return 1;
            fdsp_msg_free(x);
        }
        double t1 = cpu_ns();
        for (int r = 0; r < rounds; r++) {
            char *o;
            size_t l;
#ifdef WIRE_GROUPED
            int rc = fdsp_encode_opt(m, FDSP_ENC_GROUPS, &o, &l);
#else
            int rc = fdsp_encode(m, &o, &l);
#endif
            if (rc != FDSP_OK)
                return 1;
            free(o);
        }
        double t2 = cpu_ns();
        td += t1 - t0;
        te += t2 - t1;
        fdsp_msg_free(m);
        free(b);
    }
    printf("records %zu bytes/record %.0f decode %.2f us/record "
           "encode %.2f us/record\n", records, (double)bytes / (double)records,
           td / rounds / (double)records / 1000,
           te / rounds / (double)records / 1000);
    return 0;
}
