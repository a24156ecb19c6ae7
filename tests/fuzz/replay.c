/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a fuzz target over saved inputs without libFuzzer, so any compiler's test build can. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/xalloc.h"

/*
 * Reads the file at path whole into a buffer of exactly its size, so that AddressSanitizer
 * catches a target reading one byte past the input, as libFuzzer's own buffers do.
 */
static int
replay_read(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;

        xgrow(&data, &cap, len + 4096, 1);
        got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        goto out;
    }
    *out = xmalloc(len);
    if (len > 0)
        memcpy(*out, data, len);
    *out_len = len;
    rc = 0;
out:
    free(data);
    fclose(f);
    return rc;
}

static int
replay_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Runs the target on the file at path, or on every file under it (in name order, skipping
 * dot files and READMEs) when it is a directory. Adds to *count; returns 0 or -1.
 */
static int
replay_path(const char *path, size_t *count)
{
    struct stat st;
    uint8_t *data;
    size_t len;
    int rc = -1;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0, cap = 0;

        if (dir == NULL) {
            fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
            return -1;
        }
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
                continue;
            xgrow(&names, &cap, n + 1, sizeof(*names));
            names[n++] = xasprintf("%s/%s", path, e->d_name);
        }
        closedir(dir);
        if (n > 0)
            qsort(names, n, sizeof(*names), replay_compare);
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (replay_path(names[i], count) < 0)
                rc = -1;
            free(names[i]);
        }
        free(names);
        return rc;
    }
    if (replay_read(path, &data, &len) < 0)
        return -1;
    /* Named before it runs: a crash report then says which input it was. */
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    (*count)++;
    return 0;
}

int
main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr,
                "usage: %s FILE-OR-DIRECTORY...\n"
                "Runs the fuzz target once on each file, as libFuzzer replays a crash.\n",
                argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) < 0)
            rc = 1;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        rc = 1;
    }
    if (rc == 0)
        printf("replay: %zu inputs ran without a violation\n", count);
    return rc;
}
