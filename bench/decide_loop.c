/* SPDX-License-Identifier: Apache-2.0 */
/* The decision path alone, without TLS or HTTP, in a loop: callgrind counts its instructions. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "policy/arena.h"
#include "policy/decide.h"
#include "policy/diag.h"
#include "policy/file.h"
#include "policy/policy.h"
#include "policy/xalloc.h"
#include "webhook/review.h"

#define PROGRAM "gtw_decide_loop"
#define LOOP_REVIEW_MAX ((size_t)64 << 20)

/*
 * What one iteration does; each stage is a part of what the server does per request. The parse
 * and decide stages run in the thread's arena (policy/arena.h), as review_handle does.
 */
enum loop_stage {
    STAGE_HANDLE, /* review_handle: parse, decide, build and print the answer */
    STAGE_PARSE,  /* review_parse of the body only (cJSON where it cannot vouch), as the server */
    STAGE_DECIDE, /* decide_request on a body parsed once, without the answer */
};

struct loop {
    const struct policy *policy;
    enum decide_endpoint endpoint;
    enum loop_stage stage;
    const char *body;
    size_t len;
    const cJSON *request;   /* STAGE_DECIDE: the parsed request */
    unsigned long checksum; /* keeps the compiler from dropping the work */
};

static const char usage[] =
    "Usage: " PROGRAM " --policy FILE --review FILE [OPTION]...\n"
    "Decide one AdmissionReview again and again, without TLS or HTTP, for callgrind.\n"
    "\n"
    "  --policy FILE        the GPU tenancy policy\n"
    "  --review FILE        an AdmissionReview v1 (JSON)\n"
    "  --endpoint NAME      mutate or validate (default mutate)\n"
    "  --stage NAME         handle (parse, decide, answer; the default), parse or decide\n"
    "  --iterations N       how many times (default 1000)\n"
    "\n"
    "One warm-up iteration runs first. The loop itself is the function loop_run, so\n"
    "  valgrind --tool=callgrind --collect-atstart=no --toggle-collect=loop_run " PROGRAM " ...\n"
    "counts exactly N iterations. Prints what the last answer was, and the wall time per\n"
    "iteration (meaningless under valgrind).\n";

/* One iteration of the chosen stage; returns a number derived from its result. */
static unsigned long
loop_once(const struct loop *l, struct review_reply *last)
{
    struct review_reply reply;
    struct decision d;
    cJSON *root;
    unsigned long sum = 0;

    switch (l->stage) {
    case STAGE_HANDLE:
        review_handle(l->policy, l->endpoint, l->body, l->len, &reply);
        sum = reply.len + reply.status;
        if (last != NULL) {
            review_reply_clear(last);
            *last = reply;
        } else {
            review_reply_clear(&reply);
        }
        break;
    case STAGE_PARSE:
        arena_begin();
        root = review_parse(l->body, l->len);
        if (root == NULL)
            root = cJSON_ParseWithLength(l->body, l->len);
        sum = root != NULL;
        arena_end();
        break;
    case STAGE_DECIDE:
        arena_begin();
        decide_request(l->policy, l->endpoint, l->request, &d);
        sum = (unsigned long)d.allowed + d.nwarnings + (d.patch != NULL);
        decision_clear(&d);
        arena_end();
        break;
    }
    return sum;
}

/* The measured loop. Not inlined, so that callgrind's --toggle-collect can name it. */
__attribute__((noinline)) static void
loop_run(struct loop *l, unsigned long iterations)
{
    for (unsigned long i = 0; i < iterations; i++)
        l->checksum += loop_once(l, NULL);
}

/* Parses a positive decimal count into *out. Returns 0, or -1 for anything else. */
static int
loop_parse_count(const char *text, unsigned long *out)
{
    unsigned long n;
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    n = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0)
        return -1;
    *out = n;
    return 0;
}

int
main(int argc, char **argv)
{
    enum { OPT_POLICY = 256, OPT_REVIEW, OPT_ENDPOINT, OPT_STAGE, OPT_ITERATIONS };
    static const struct option options[] = {
        {"policy", required_argument, NULL, OPT_POLICY},
        {"review", required_argument, NULL, OPT_REVIEW},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"stage", required_argument, NULL, OPT_STAGE},
        {"iterations", required_argument, NULL, OPT_ITERATIONS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *policy_path = NULL, *review_path = NULL;
    unsigned long iterations = 1000;
    struct loop l = {.endpoint = DECIDE_MUTATE, .stage = STAGE_HANDLE};
    struct review_reply last = {0};
    struct policy *p = NULL;
    struct timespec t0, t1;
    cJSON *parsed = NULL;
    char *body = NULL;
    struct diags d;
    int c, rc, status = 1;
    double ns;

    xalloc_init_cjson();
    diags_init(&d);
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_POLICY:
            policy_path = optarg;
            break;
        case OPT_REVIEW:
            review_path = optarg;
            break;
        case OPT_ENDPOINT:
            if (strcmp(optarg, "mutate") == 0) {
                l.endpoint = DECIDE_MUTATE;
            } else if (strcmp(optarg, "validate") == 0) {
                l.endpoint = DECIDE_VALIDATE;
            } else {
                fprintf(stderr, PROGRAM ": --endpoint is mutate or validate, not '%s'\n", optarg);
                goto out;
            }
            break;
        case OPT_STAGE:
            if (strcmp(optarg, "handle") == 0) {
                l.stage = STAGE_HANDLE;
            } else if (strcmp(optarg, "parse") == 0) {
                l.stage = STAGE_PARSE;
            } else if (strcmp(optarg, "decide") == 0) {
                l.stage = STAGE_DECIDE;
            } else {
                fprintf(stderr, PROGRAM ": --stage is handle, parse or decide, not '%s'\n", optarg);
                goto out;
            }
            break;
        case OPT_ITERATIONS:
            if (loop_parse_count(optarg, &iterations) < 0) {
                fprintf(stderr, PROGRAM ": --iterations wants a positive number, not '%s'\n",
                        optarg);
                goto out;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            status = 0;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (policy_path == NULL || review_path == NULL || optind < argc) {
        fputs(usage, stderr);
        goto out;
    }
    if (policy_load_file(policy_path, &p, &d) < 0) {
        diags_print(&d, stderr);
        goto out;
    }
    rc = file_read(review_path, LOOP_REVIEW_MAX, &body, &l.len);
    if (rc != 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", review_path,
                rc == FILE_TOO_LARGE ? "larger than 64 MiB" : strerror(errno));
        goto out;
    }
    l.policy = p;
    l.body = body;
    if (l.stage == STAGE_DECIDE) {
        /* Outside the arena: the parsed review outlives every iteration's arena_end. */
        parsed = cJSON_ParseWithLength(body, l.len);
        l.request = cJSON_GetObjectItemCaseSensitive(parsed, "request");
        if (!cJSON_IsObject(l.request)) {
            fprintf(stderr, PROGRAM ": %s: not an AdmissionReview with a request\n", review_path);
            goto out;
        }
    }

    /* The warm-up: first-use costs (PCRE2 JIT stacks, lazy library set-up) stay out. */
    loop_once(&l, &last);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    loop_run(&l, iterations);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
         (double)iterations;

    printf("iterations=%lu bytes=%zu ns_per_iteration=%.0f checksum=%lu", iterations, l.len, ns,
           l.checksum);
    if (l.stage == STAGE_HANDLE)
        printf(" status=%u verdict=%s answer_bytes=%zu", last.status,
               last.verdict ? last.verdict : "-", last.len);
    printf("\n");
    status = 0;
out:
    review_reply_clear(&last);
    cJSON_Delete(parsed);
    free(body);
    policy_free(p);
    diags_free(&d);
    return status;
}
