/* SPDX-License-Identifier: Apache-2.0 */
/* Loads a policy file: YAML into a tree that keeps every node's position, then a strict check. */
#include "policy/policy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy/dra.h"
#include "policy/file.h"
#include "policy/xalloc.h"

#define LOAD_MAX_BYTES ((size_t)16 * 1024 * 1024)
/* The schema nests four levels deep; anything far deeper is not a policy. */
#define LOAD_MAX_DEPTH 32
/* Generous for any count of GPUs, small enough that sums of them never overflow. */
#define LOAD_MAX_NUMBER 1000000
/* Values quoted in messages are cut to this many bytes so the message keeps its end. */
#define LOAD_QUOTE_MAX 64
/* A MIG profile must fit in resource names such as nvidia.com/mig-<profile>.shared. */
#define LOAD_MIG_PROFILE_MAX 63

#define LOAD_API_VERSION "gpu-tenancy.io/v1alpha1"
#define LOAD_KIND "GPUTenancyPolicy"

/* Arguments for a "%.*s%s" conversion that quotes s, cut to LOAD_QUOTE_MAX bytes. */
#define QUOTE(s)                                                                                   \
    (int)(strlen(s) > LOAD_QUOTE_MAX ? LOAD_QUOTE_MAX : strlen(s)), (s),                           \
        (strlen(s) > LOAD_QUOTE_MAX ? "..." : "")

/* ---------------------------------------------------------------------------------------- */
/* The node tree                                                                             */
/* ---------------------------------------------------------------------------------------- */

enum node_type {
    NODE_SCALAR,
    NODE_SEQUENCE,
    NODE_MAPPING,
};

struct node {
    enum node_type type;
    unsigned line, column; /* 1-based */
    char *value;           /* scalars only */
    bool plain;            /* a plain scalar without a tag: may be a number, boolean or null */
    struct node **items;   /* sequences: the elements; mappings: key, value, key, value... */
    size_t count, cap;
};

/* One load: where diagnostics go, and the names the cross-checks compare. */
struct load_ref {
    const char *name;        /* borrowed from the policy being built */
    const struct node *node; /* where to report a duplicate */
    size_t owner;            /* the tenant's index */
    size_t order;            /* position in the file, so the first occurrence wins */
};

struct load_refs {
    struct load_ref *items;
    size_t count, cap;
};

struct loader {
    const char *name;
    const char *data;
    size_t len;
    struct diags *diags;
    struct load_refs tenant_names;
    struct load_refs namespaces;
    const struct node **tenant_nodes; /* each tenant's mapping, for messages about it */
    const struct policy *policy;      /* the policy being built: its settings, for the tenants */
};

static void
node_free(struct node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->count; i++)
        node_free(n->items[i]);
    free(n->items);
    free(n->value);
    free(n);
}

/* ---------------------------------------------------------------------------------------- */
/* Diagnostics                                                                               */
/* ---------------------------------------------------------------------------------------- */

static void load_report(struct loader *ld, bool warning, unsigned line, unsigned column,
                        const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/*
 * Copies in to out (size bytes), writing control characters as C escapes (\n, \t, \r, \xHH):
 * a value quoted from the file may span lines (a multi-line scalar) or hold terminal escapes,
 * and a diagnostic is one printable line. Cuts at an escape rather than through it.
 */
static void
load_escape_controls(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (; *in != '\0'; in++) {
        unsigned char c = (unsigned char)*in;
        char esc[8];
        size_t len = 1;

        esc[0] = (char)c;
        if (c == '\n' || c == '\t' || c == '\r') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
        }
        if (n + len >= size)
            break;
        memcpy(out + n, esc, len);
        n += len;
    }
    out[n] = '\0';
}

static void
load_report(struct loader *ld, bool warning, unsigned line, unsigned column, const char *fmt,
            va_list ap)
{
    char message[DIAG_MESSAGE_MAX], escaped[DIAG_MESSAGE_MAX];

    vsnprintf(message, sizeof(message), fmt, ap);
    load_escape_controls(message, escaped, sizeof(escaped));
    diags_add(ld->diags, warning, ld->name, line, column, "%s", escaped);
}

static void load_error(struct loader *ld, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an error at node n. */
static void
load_error(struct loader *ld, const struct node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    load_report(ld, false, n->line, n->column, fmt, ap);
    va_end(ap);
}

static void load_warning(struct loader *ld, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a warning at node n. */
static void
load_warning(struct loader *ld, const struct node *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    load_report(ld, true, n->line, n->column, fmt, ap);
    va_end(ap);
}

static void load_error_at(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports an error at a position that has no node. */
static void
load_error_at(struct loader *ld, unsigned line, unsigned column, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    load_report(ld, false, line, column, fmt, ap);
    va_end(ap);
}

static void load_error_mark(struct loader *ld, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an error at a libyaml mark, which counts lines and columns from 0. */
static void
load_error_mark(struct loader *ld, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    load_report(ld, false, (unsigned)mark->line + 1, (unsigned)mark->column + 1, fmt, ap);
    va_end(ap);
}

struct load_diag_key {
    unsigned line, column;
    size_t index;
};

static int
load_diag_key_compare(const void *a, const void *b)
{
    const struct load_diag_key *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Puts the diagnostics this load added (from first on) in file order. The checks run in
 * passes (each tenant, then the names across tenants), but a reader wants them top to bottom;
 * the index tie-break keeps problems found at one position in the order they were found.
 */
static void
load_sort_diags(struct diags *d, size_t first)
{
    size_t n = d->count - first;
    struct load_diag_key *keys;
    struct diag *sorted;

    if (n < 2)
        return;
    keys = xcalloc(n, sizeof(*keys));
    sorted = xcalloc(n, sizeof(*sorted));
    for (size_t i = 0; i < n; i++) {
        keys[i].line = d->items[first + i].line;
        keys[i].column = d->items[first + i].column;
        keys[i].index = i;
    }
    qsort(keys, n, sizeof(*keys), load_diag_key_compare);
    for (size_t i = 0; i < n; i++)
        sorted[i] = d->items[first + keys[i].index];
    memcpy(&d->items[first], sorted, n * sizeof(*sorted));
    free(sorted);
    free(keys);
}

/* ---------------------------------------------------------------------------------------- */
/* YAML to nodes                                                                             */
/* ---------------------------------------------------------------------------------------- */

static void
load_report_yaml(struct loader *ld, const yaml_parser_t *parser)
{
    char message[DIAG_MESSAGE_MAX];
    unsigned line, column;

    diag_yaml_problem(parser, ld->data, ld->len, &line, &column, message, sizeof(message));
    load_error_at(ld, line, column, "%s", message);
}

static struct node *
node_new(enum node_type type, const yaml_mark_t *mark)
{
    struct node *n = xcalloc(1, sizeof(*n));

    n->type = type;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    return n;
}

/*
 * Adds n to the tree: as the root when nothing is open, else as the next item of the innermost
 * open collection. Takes ownership of n.
 */
static void
node_attach(struct node **root, struct node **stack, size_t depth, struct node *n)
{
    struct node *parent;

    if (depth == 0) {
        *root = n;
        return;
    }
    parent = stack[depth - 1];
    xgrow(&parent->items, &parent->cap, parent->count + 1, sizeof(struct node *));
    parent->items[parent->count++] = n;
}

/*
 * Parses the YAML into a node tree. Returns 0 and stores the root (NULL for an empty stream) in
 * *out, or reports the problem and returns -1. Aliases are refused: the schema never needs
 * them, and following them would let a small file expand into a huge or cyclic one.
 */
static int
load_parse(struct loader *ld, struct node **out)
{
    yaml_parser_t parser;
    yaml_event_t event;
    struct node *stack[LOAD_MAX_DEPTH];
    struct node *root = NULL, *n;
    size_t depth = 0;
    bool done = false, have_document = false;
    int rc = -1;

    if (!yaml_parser_initialize(&parser)) {
        load_error_at(ld, 0, 0, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->data, ld->len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            load_report_yaml(ld, &parser);
            goto out;
        }
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (have_document) {
                load_error_mark(ld, &event.start_mark,
                                "a policy file must hold a single YAML document");
                goto fail;
            }
            have_document = true;
            break;
        case YAML_ALIAS_EVENT:
            load_error_mark(ld, &event.start_mark,
                            "YAML aliases are not supported (write the value out in full)");
            goto fail;
        case YAML_SCALAR_EVENT:
            if (memchr(event.data.scalar.value, '\0', event.data.scalar.length) != NULL) {
                load_error_mark(ld, &event.start_mark, "NUL characters are not allowed in values");
                goto fail;
            }
            n = node_new(NODE_SCALAR, &event.start_mark);
            n->value = xstrndup((const char *)event.data.scalar.value, event.data.scalar.length);
            n->plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                       event.data.scalar.plain_implicit;
            node_attach(&root, stack, depth, n);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == LOAD_MAX_DEPTH) {
                load_error_mark(ld, &event.start_mark, "YAML nested too deeply (at most %d levels)",
                                LOAD_MAX_DEPTH);
                goto fail;
            }
            n = node_new(event.type == YAML_MAPPING_START_EVENT ? NODE_MAPPING : NODE_SEQUENCE,
                         &event.start_mark);
            node_attach(&root, stack, depth, n);
            stack[depth++] = n;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            /* libyaml balances start and end events; the check only keeps depth sane. */
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    *out = root;
    root = NULL;
    rc = 0;
    goto out;
fail:
    yaml_event_delete(&event);
out:
    node_free(root);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Typed values                                                                              */
/* ---------------------------------------------------------------------------------------- */

static bool
node_is_null(const struct node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n->type != NODE_SCALAR || !n->plain)
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (strcmp(n->value, nulls[i]) == 0)
            return true;
    }
    return false;
}

/* Describes what n is, for "expected X (found Y)" messages. */
static void
node_describe(const struct node *n, char *buf, size_t size)
{
    if (n->type == NODE_MAPPING)
        snprintf(buf, size, "a mapping");
    else if (n->type == NODE_SEQUENCE)
        snprintf(buf, size, "a sequence");
    else if (node_is_null(n))
        snprintf(buf, size, "an empty value");
    else
        snprintf(buf, size, "\"%.*s%s\"", QUOTE(n->value));
}

/* Returns true when n is of the given type, else reports what was expected for what. */
static bool
load_expect(struct loader *ld, const struct node *n, enum node_type type, const char *what)
{
    static const char *const names[] = {"a string", "a sequence", "a mapping"};
    char found[LOAD_QUOTE_MAX + 16];

    if (n->type == type && !(type == NODE_SCALAR && node_is_null(n)))
        return true;
    node_describe(n, found, sizeof(found));
    load_error(ld, n, "%s must be %s (found %s)", what, names[type], found);
    return false;
}

/* Returns the text of string n, or NULL after reporting that n is not one. */
static const char *
load_string(struct loader *ld, const struct node *n, const char *what)
{
    return load_expect(ld, n, NODE_SCALAR, what) ? n->value : NULL;
}

/*
 * Reads a whole number written as a plain YAML integer in decimal: "4", not "-1", "1.5", "4e2",
 * "0x10" or the string "4". Returns true and stores it in *out, or reports and returns false.
 */
static bool
load_number(struct loader *ld, const struct node *n, const char *what, bool positive, int64_t *out)
{
    const char *kind = positive ? "positive" : "non-negative";
    char found[LOAD_QUOTE_MAX + 32];
    int64_t value = 0;
    const char *s;

    if (n->type != NODE_SCALAR || node_is_null(n)) {
        node_describe(n, found, sizeof(found));
        load_error(ld, n, "%s must be a %s whole number (found %s)", what, kind, found);
        return false;
    }
    s = n->value;
    if (!n->plain) {
        load_error(ld, n, "%s must be a %s whole number (found the string \"%.*s%s\")", what, kind,
                   QUOTE(s));
        return false;
    }
    if (strspn(s, "0123456789") != strlen(s)) {
        load_error(ld, n, "%s must be a %s whole number (found \"%.*s%s\")", what, kind, QUOTE(s));
        return false;
    }
    /* YAML 1.1 reads a leading zero as octal; refuse rather than guess which was meant. */
    if (s[0] == '0' && s[1] != '\0') {
        load_error(ld, n, "%s must be written without leading zeros (found \"%.*s%s\")", what,
                   QUOTE(s));
        return false;
    }
    for (; *s != '\0'; s++) {
        value = value * 10 + (*s - '0');
        if (value > LOAD_MAX_NUMBER) {
            load_error(ld, n, "%s must be at most %d (found \"%.*s%s\")", what, LOAD_MAX_NUMBER,
                       QUOTE(n->value));
            return false;
        }
    }
    if (positive && value == 0) {
        load_error(ld, n, "%s must be a positive whole number (found \"0\")", what);
        return false;
    }
    *out = value;
    return true;
}

/* Reads a YAML 1.1 boolean, plain only: true, True, TRUE, false, False or FALSE. */
static bool
load_bool(struct loader *ld, const struct node *n, const char *what, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    char found[LOAD_QUOTE_MAX + 16];

    if (n->type == NODE_SCALAR && n->plain) {
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(n->value, yes[i]) == 0 || strcmp(n->value, no[i]) == 0) {
                *out = strcmp(n->value, yes[i]) == 0;
                return true;
            }
        }
    }
    node_describe(n, found, sizeof(found));
    if (n->type == NODE_SCALAR && !n->plain)
        load_error(ld, n, "%s must be true or false (found the string %s)", what, found);
    else
        load_error(ld, n, "%s must be true or false (found %s)", what, found);
    return false;
}

static bool
load_mode(struct loader *ld, const struct node *n, enum policy_mode *out)
{
    static const char *const names[] = {"enforce", "warn", "audit"};
    static const enum policy_mode modes[] = {POLICY_MODE_ENFORCE, POLICY_MODE_WARN,
                                             POLICY_MODE_AUDIT};
    const char *s = load_string(ld, n, "mode");

    if (s == NULL)
        return false;
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = modes[i];
            return true;
        }
    }
    load_error(ld, n, "unknown mode \"%.*s%s\" (expected enforce, warn or audit)", QUOTE(s));
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Name syntax                                                                               */
/* ---------------------------------------------------------------------------------------- */

static bool
char_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
char_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* An RFC 1123 label of len bytes: [a-z0-9-], a letter or digit at both ends. */
static bool
name_is_dns_label_n(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || !char_is_lower_alnum(s[0]) || !char_is_lower_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!char_is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

static bool
name_is_dns_label(const char *s)
{
    return name_is_dns_label_n(s, strlen(s), 63);
}

/* An RFC 1123 subdomain of len bytes: dot-separated labels, 253 bytes at most. */
static bool
name_is_dns_subdomain(const char *s, size_t len)
{
    size_t start = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!name_is_dns_label_n(s + start, i - start, 253))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* A label value, or a label key's name part: [A-Za-z0-9._-], 63 at most, alnum at both ends. */
static bool
name_is_label_value_n(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !char_is_alnum(s[0]) || !char_is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!char_is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    }
    return true;
}

/* A Kubernetes label key: an optional DNS subdomain and '/', then a name. */
static bool
name_is_label_key(const char *s)
{
    const char *slash = strchr(s, '/');

    if (slash == NULL)
        return name_is_label_value_n(s, strlen(s));
    return name_is_dns_subdomain(s, (size_t)(slash - s)) &&
           name_is_label_value_n(slash + 1, strlen(slash + 1));
}

/* Consumes one or more digits at *s; returns false when there are none. */
static bool
scan_digits(const char **s)
{
    const char *start = *s;

    while (**s >= '0' && **s <= '9')
        (*s)++;
    return *s > start;
}

/* Checks a MIG profile against ^([0-9]+c\.)?[0-9]+g\.[0-9]+gb(\+me|\.me)?$ (e.g. 1g.10gb). */
static bool
name_is_mig_profile_n(const char *s, size_t len)
{
    char buf[LOAD_MIG_PROFILE_MAX + 1];
    const char *p = buf;

    if (len == 0 || len > LOAD_MIG_PROFILE_MAX || memchr(s, '\0', len) != NULL)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!scan_digits(&p))
        return false;
    if (p[0] == 'c' && p[1] == '.') {
        p += 2;
        if (!scan_digits(&p))
            return false;
    }
    if (p[0] != 'g' || p[1] != '.')
        return false;
    p += 2;
    if (!scan_digits(&p) || p[0] != 'g' || p[1] != 'b')
        return false;
    p += 2;
    return *p == '\0' || strcmp(p, "+me") == 0 || strcmp(p, ".me") == 0;
}

static bool
name_is_mig_profile(const char *s)
{
    return name_is_mig_profile_n(s, strlen(s));
}

/*
 * Checks a GPU resource name: nvidia.com/gpu, nvidia.com/gpu.shared, nvidia.com/mig-<profile>
 * or nvidia.com/mig-<profile>.shared. A profile may itself end in ".me", so the bare MIG form is
 * tried before the ".shared" one.
 */
static bool
name_is_gpu_resource(const char *s)
{
    static const char mig[] = "nvidia.com/mig-";
    static const char shared[] = ".shared";
    size_t len;

    if (strcmp(s, "nvidia.com/gpu") == 0 || strcmp(s, "nvidia.com/gpu.shared") == 0)
        return true;
    if (strncmp(s, mig, sizeof(mig) - 1) != 0)
        return false;
    s += sizeof(mig) - 1;
    len = strlen(s);
    if (name_is_mig_profile_n(s, len))
        return true;
    return len > sizeof(shared) - 1 && strcmp(s + len - (sizeof(shared) - 1), shared) == 0 &&
           name_is_mig_profile_n(s, len - (sizeof(shared) - 1));
}

/* ---------------------------------------------------------------------------------------- */
/* Mappings and lists                                                                        */
/* ---------------------------------------------------------------------------------------- */

/*
 * Sorts the pairs of mapping map into the known keys names[0..n): values[i] gets the value of
 * names[i], or NULL when absent. Reports keys that are not strings, unknown or repeated; the
 * first of repeated keys is the one used. what names the mapping in messages.
 */
static void
load_fields(struct loader *ld, const struct node *map, const char *what, const char *const *names,
            size_t n, const struct node **values)
{
    for (size_t j = 0; j < n; j++)
        values[j] = NULL;
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct node *key = map->items[i];
        size_t j;

        if (key->type != NODE_SCALAR) {
            char found[LOAD_QUOTE_MAX + 16];

            node_describe(key, found, sizeof(found));
            load_error(ld, key, "keys in %s must be strings (found %s)", what, found);
            continue;
        }
        for (j = 0; j < n; j++) {
            if (strcmp(key->value, names[j]) == 0)
                break;
        }
        if (j == n) {
            char expected[DIAG_MESSAGE_MAX] = "";
            size_t used = 0;

            for (size_t k = 0; k < n && used < sizeof(expected); k++) {
                int w = snprintf(expected + used, sizeof(expected) - used, "%s%s",
                                 k > 0 ? ", " : "", names[k]);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            load_error(ld, key, "unknown key \"%.*s%s\" in %s (expected one of: %s)",
                       QUOTE(key->value), what, expected);
            continue;
        }
        if (values[j] != NULL) {
            load_error(ld, key, "duplicate key \"%s\" in %s", names[j], what);
            continue;
        }
        values[j] = map->items[i + 1];
    }
}

/* Reports a required key missing from map. hint, when not NULL, says what it should hold. */
static void
load_missing(struct loader *ld, const struct node *map, const char *key, const char *what,
             const char *hint)
{
    if (hint != NULL)
        load_error(ld, map, "missing required key \"%s\" in %s (%s)", key, what, hint);
    else
        load_error(ld, map, "missing required key \"%s\" in %s", key, what);
}

static void
load_ref_add(struct load_refs *refs, const char *name, const struct node *n, size_t owner)
{
    xgrow(&refs->items, &refs->cap, refs->count + 1, sizeof(*refs->items));
    refs->items[refs->count].name = name;
    refs->items[refs->count].node = n;
    refs->items[refs->count].owner = owner;
    refs->items[refs->count].order = refs->count;
    refs->count++;
}

/* Checks one entry of a string list; reports and returns false when it is not acceptable. */
typedef bool (*load_check_fn)(struct loader *ld, const struct node *n, const char *s);

/*
 * Reads sequence seq of strings into out (which must be empty), keeping the entries that check
 * accepts (every non-empty one when check is NULL). what is the key, for messages. When refs
 * is not NULL, each kept entry is also recorded there with its node, as owned by owner, for the
 * checks across tenants. Returns 0, or -1 when anything was reported.
 */
static int
load_strings(struct loader *ld, const struct node *seq, const char *what, load_check_fn check,
             struct policy_strings *out, struct load_refs *refs, size_t owner)
{
    char entry[64];
    int rc = 0;

    if (!load_expect(ld, seq, NODE_SEQUENCE, what))
        return -1;
    snprintf(entry, sizeof(entry), "%s entry", what);
    out->items = xcalloc(seq->count, sizeof(*out->items));
    for (size_t i = 0; i < seq->count; i++) {
        const struct node *n = seq->items[i];
        const char *s = load_string(ld, n, entry);

        if (s == NULL) {
            rc = -1;
            continue;
        }
        if (check != NULL ? !check(ld, n, s) : s[0] == '\0') {
            if (check == NULL)
                load_error(ld, n, "%s must not be empty", entry);
            rc = -1;
            continue;
        }
        out->items[out->count] = xstrdup(s);
        if (refs != NULL)
            load_ref_add(refs, out->items[out->count], n, owner);
        out->count++;
    }
    return rc;
}

static bool
check_namespace(struct loader *ld, const struct node *n, const char *s)
{
    if (name_is_dns_label(s))
        return true;
    load_error(ld, n,
               "invalid namespace \"%.*s%s\" (expected a DNS label like ml-research: at most 63 "
               "lowercase letters, digits or '-')",
               QUOTE(s));
    return false;
}

static bool
check_product(struct loader *ld, const struct node *n, const char *s)
{
    size_t len = strlen(s);

    if (!name_is_label_value_n(s, len)) {
        load_error(ld, n,
                   "invalid product \"%.*s%s\" (expected a label value like NVIDIA-A100-SXM4-80GB: "
                   "at most 63 letters, digits, '.', '_' or '-')",
                   QUOTE(s));
        return false;
    }
    if (strstr(s, "-MIG-") != NULL || (len >= 7 && strcmp(s + len - 7, "-SHARED") == 0)) {
        load_error(ld, n,
                   "product \"%.*s%s\" must be the plain model name (the webhook adds the -SHARED "
                   "and -MIG- suffixes itself)",
                   QUOTE(s));
        return false;
    }
    return true;
}

static bool
check_mig_profile(struct loader *ld, const struct node *n, const char *s)
{
    if (name_is_mig_profile(s))
        return true;
    load_error(ld, n, "invalid MIG profile \"%.*s%s\" (expected a form like 1g.10gb)", QUOTE(s));
    return false;
}

/* Reads a label key for key what into *out (owned), replacing the default there. */
static void
load_label_key(struct loader *ld, const struct node *n, const char *what, const char *example,
               char **out)
{
    const char *s = load_string(ld, n, what);

    if (s == NULL)
        return;
    if (!name_is_label_key(s)) {
        load_error(ld, n, "invalid label key \"%.*s%s\" for %s (expected a form like %s)", QUOTE(s),
                   what, example);
        return;
    }
    free(*out);
    *out = xstrdup(s);
}

/* Replaces the owned string at *slot with a copy of s. */
static void
load_set(char **slot, const char *s)
{
    free(*slot);
    *slot = xstrdup(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Settings                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static void
load_toleration(struct loader *ld, const struct node *map, struct policy_toleration *tol)
{
    static const char *const names[] = {"key", "operator", "value", "effect"};
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
    const struct node *v[4];
    bool operator_ok = true;
    const char *s;

    if (!load_expect(ld, map, NODE_MAPPING, "toleration"))
        return;
    load_fields(ld, map, "toleration", names, 4, v);
    /* Written out, a toleration replaces the default whole: absent fields are not inherited. */
    free(tol->key);
    free(tol->value);
    free(tol->effect);
    tol->key = tol->value = tol->effect = NULL;
    load_set(&tol->operator, "Exists");

    if (v[0] == NULL)
        load_missing(ld, map, "key", "toleration", "expected a taint key like has-gpu");
    else if ((s = load_string(ld, v[0], "toleration key")) != NULL) {
        if (name_is_label_key(s))
            tol->key = xstrdup(s);
        else
            load_error(ld, v[0], "invalid toleration key \"%.*s%s\" (expected a form like has-gpu)",
                       QUOTE(s));
    }

    if (v[1] != NULL) {
        operator_ok = false;
        if ((s = load_string(ld, v[1], "toleration operator")) == NULL) {
            /* Reported already. */
        } else if (strcmp(s, "Exists") == 0 || strcmp(s, "Equal") == 0) {
            load_set(&tol->operator, s);
            operator_ok = true;
        } else {
            load_error(ld, v[1],
                       "unknown toleration operator \"%.*s%s\" (expected Exists or Equal)",
                       QUOTE(s));
        }
    }

    if (strcmp(tol->operator, "Equal") == 0) {
        if (v[2] == NULL) {
            load_missing(ld, map, "value", "toleration", "operator Equal needs a value");
        } else if (v[2]->type == NODE_SCALAR) {
            /* A taint's value may be empty, so an empty value is one here. */
            s = v[2]->value;
            if (node_is_null(v[2]))
                s = "";
            if (s[0] == '\0' || name_is_label_value_n(s, strlen(s)))
                tol->value = xstrdup(s);
            else
                load_error(ld, v[2],
                           "invalid toleration value \"%.*s%s\" (expected a label value: at most "
                           "63 letters, digits, '.', '_' or '-')",
                           QUOTE(s));
        } else {
            load_expect(ld, v[2], NODE_SCALAR, "toleration value");
        }
    } else if (v[2] != NULL && operator_ok) {
        /* With a bad operator, which of value or operator is wrong is anyone's guess. */
        load_error(ld, v[2], "toleration value is only allowed with operator Equal");
    }

    /* An empty effect tolerates every effect, as in Kubernetes. */
    if (v[3] != NULL && !node_is_null(v[3]) &&
        (s = load_string(ld, v[3], "toleration effect")) != NULL && s[0] != '\0') {
        size_t i;

        for (i = 0; i < 3; i++) {
            if (strcmp(s, effects[i]) == 0)
                break;
        }
        if (i < 3)
            tol->effect = xstrdup(s);
        else
            load_error(ld, v[3],
                       "unknown toleration effect \"%.*s%s\" (expected NoSchedule, "
                       "PreferNoSchedule or NoExecute, or none for every effect)",
                       QUOTE(s));
    }
}

static void
load_quota_admins(struct loader *ld, const struct node *map, struct policy *p)
{
    static const char *const names[] = {"users", "groups"};
    const struct node *v[2];

    if (!load_expect(ld, map, NODE_MAPPING, "quotaAdmins"))
        return;
    load_fields(ld, map, "quotaAdmins", names, 2, v);
    /* Written out, the lists are exactly what is written: absent means empty, not default. */
    policy_strings_clear(&p->quota_admin_groups);
    if (v[0] != NULL)
        load_strings(ld, v[0], "users", NULL, &p->quota_admin_users, NULL, 0);
    if (v[1] != NULL)
        load_strings(ld, v[1], "groups", NULL, &p->quota_admin_groups, NULL, 0);
}

/* A DeviceClass or driver name: a DNS subdomain, as Kubernetes names both. */
static bool
check_device_class(struct loader *ld, const struct node *n, const char *s)
{
    if (name_is_dns_subdomain(s, strlen(s)))
        return true;
    load_error(ld, n,
               "invalid device class \"%.*s%s\" (expected a DeviceClass name like gpu.nvidia.com: "
               "lowercase letters, digits, '-' and '.')",
               QUOTE(s));
    return false;
}

static int
load_dra_class_compare(const void *a, const void *b)
{
    const struct policy_dra_class *x = a, *y = b;

    return strcmp(x->name, y->name);
}

static void
load_dra_classes_clear(struct policy_dra *dra)
{
    for (size_t i = 0; i < dra->nclasses; i++)
        free(dra->classes[i].name);
    free(dra->classes);
    dra->classes = NULL;
    dra->nclasses = 0;
}

static void
load_dra_classes(struct loader *ld, const struct node *map, struct policy_dra *dra)
{
    if (!load_expect(ld, map, NODE_MAPPING, "deviceClasses"))
        return;
    /* Written out, the classes are exactly what is written: NVIDIA's are not merged in. */
    load_dra_classes_clear(dra);
    dra->classes = xcalloc(map->count / 2 + 1, sizeof(*dra->classes));
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct node *key = map->items[i], *value = map->items[i + 1];
        const char *name = load_string(ld, key, "device class");
        const char *kind;
        bool seen = false;

        if (name == NULL || !check_device_class(ld, key, name))
            continue;
        for (size_t j = 0; j < dra->nclasses && !seen; j++)
            seen = strcmp(dra->classes[j].name, name) == 0;
        if (seen) {
            load_error(ld, key, "duplicate key \"%.*s%s\" in deviceClasses", QUOTE(name));
            continue;
        }
        if ((kind = load_string(ld, value, "device class kind")) == NULL)
            continue;
        if (strcmp(kind, "gpu") != 0 && strcmp(kind, "mig") != 0) {
            load_error(ld, value,
                       "unknown kind \"%.*s%s\" for device class \"%.*s%s\" (expected gpu for "
                       "whole GPUs or mig for MIG devices)",
                       QUOTE(kind), QUOTE(name));
            continue;
        }
        dra->classes[dra->nclasses].name = xstrdup(name);
        dra->classes[dra->nclasses].kind = strcmp(kind, "mig") == 0 ? DRA_CLASS_MIG : DRA_CLASS_GPU;
        dra->nclasses++;
    }
    if (dra->nclasses > 1)
        qsort(dra->classes, dra->nclasses, sizeof(*dra->classes), load_dra_class_compare);
    if (map->count == 0)
        load_warning(ld, map,
                     "deviceClasses is empty: no device class is judged, so any namespace may "
                     "claim GPUs through DRA");
}

static void
load_dra(struct loader *ld, const struct node *map, struct policy *p)
{
    enum { R_CLASSES, R_DRIVER, R_DEFAULT, R_PODS, R_COUNT };
    static const char *const names[R_COUNT] = {"deviceClasses", "driver", "defaultSharing",
                                               "podsWithClaimsAreGpuPods"};
    const struct node *v[R_COUNT];
    const char *s;

    if (!load_expect(ld, map, NODE_MAPPING, "dra"))
        return;
    p->dra.written = true;
    load_fields(ld, map, "dra", names, R_COUNT, v);
    if (v[R_CLASSES] != NULL)
        load_dra_classes(ld, v[R_CLASSES], &p->dra);
    if (v[R_DRIVER] != NULL && (s = load_string(ld, v[R_DRIVER], "driver")) != NULL) {
        /* Driver names are DNS subdomains of at most 63 bytes. */
        if (strlen(s) <= 63 && name_is_dns_subdomain(s, strlen(s)))
            load_set(&p->dra.driver, s);
        else
            load_error(ld, v[R_DRIVER],
                       "invalid driver \"%.*s%s\" (expected a DRA driver name like "
                       "gpu.nvidia.com: at most 63 lowercase letters, digits, '-' and '.')",
                       QUOTE(s));
    }
    if (v[R_DEFAULT] != NULL && (s = load_string(ld, v[R_DEFAULT], "defaultSharing")) != NULL) {
        if (strcmp(s, "exclusive") == 0)
            p->dra.default_sharing = SHARING_EXCLUSIVE;
        else if (strcmp(s, "time-slicing") == 0)
            p->dra.default_sharing = SHARING_TIME_SLICING;
        else
            load_error(ld, v[R_DEFAULT],
                       "unknown defaultSharing \"%.*s%s\" (expected exclusive, or time-slicing "
                       "when the driver's TimeSlicingSettings gate is on)",
                       QUOTE(s));
    }
    if (v[R_PODS] != NULL)
        load_bool(ld, v[R_PODS], "podsWithClaimsAreGpuPods", &p->dra.pods_with_claims_are_gpu_pods);
}

static void
load_settings(struct loader *ld, const struct node *map, struct policy *p)
{
    enum {
        S_MODE,
        S_TOLERATION,
        S_PRODUCT_LABEL,
        S_SHARING_LABEL,
        S_EXEMPT,
        S_QUOTA_ADMINS,
        S_DENY,
        S_DRA,
        S_COUNT
    };
    static const char *const names[S_COUNT] = {"mode",
                                               "toleration",
                                               "productLabel",
                                               "sharingLabel",
                                               "exemptNamespaces",
                                               "quotaAdmins",
                                               "denyTolerationWithoutGpu",
                                               "dra"};
    const struct node *v[S_COUNT];

    if (!load_expect(ld, map, NODE_MAPPING, "settings"))
        return;
    load_fields(ld, map, "settings", names, S_COUNT, v);
    if (v[S_MODE] != NULL)
        load_mode(ld, v[S_MODE], &p->mode);
    if (v[S_TOLERATION] != NULL)
        load_toleration(ld, v[S_TOLERATION], &p->toleration);
    if (v[S_PRODUCT_LABEL] != NULL)
        load_label_key(ld, v[S_PRODUCT_LABEL], "productLabel", "nvidia.com/gpu.product",
                       &p->product_label);
    if (v[S_SHARING_LABEL] != NULL)
        load_label_key(ld, v[S_SHARING_LABEL], "sharingLabel", "nvidia.com/gpu.sharing-strategy",
                       &p->sharing_label);
    if (v[S_EXEMPT] != NULL) {
        policy_strings_clear(&p->exempt_namespaces);
        load_strings(ld, v[S_EXEMPT], "exemptNamespaces", check_namespace, &p->exempt_namespaces,
                     NULL, 0);
        policy_strings_sort_unique(&p->exempt_namespaces);
    }
    if (v[S_QUOTA_ADMINS] != NULL)
        load_quota_admins(ld, v[S_QUOTA_ADMINS], p);
    if (v[S_DENY] != NULL)
        load_bool(ld, v[S_DENY], "denyTolerationWithoutGpu", &p->deny_toleration_without_gpu);
    if (v[S_DRA] != NULL)
        load_dra(ld, v[S_DRA], p);
}

/* Sets every setting to its default, before the file's settings replace some of them. */
static void
load_defaults(struct policy *p)
{
    p->mode = POLICY_MODE_ENFORCE;
    p->toleration.key = xstrdup("has-gpu");
    load_set(&p->toleration.operator, "Exists");
    p->toleration.value = NULL;
    p->toleration.effect = xstrdup("NoSchedule");
    p->product_label = xstrdup("nvidia.com/gpu.product");
    p->sharing_label = xstrdup("nvidia.com/gpu.sharing-strategy");
    p->exempt_namespaces.items = xcalloc(2, sizeof(char *));
    p->exempt_namespaces.items[0] = xstrdup("gpu-operator");
    p->exempt_namespaces.items[1] = xstrdup("kube-system");
    p->exempt_namespaces.count = 2;
    p->quota_admin_groups.items = xcalloc(1, sizeof(char *));
    p->quota_admin_groups.items[0] = xstrdup("system:masters");
    p->quota_admin_groups.count = 1;
    p->deny_toleration_without_gpu = true;
    /* NVIDIA's DRA driver installs these classes (sorted by name, as a written list is). */
    p->dra.classes = xcalloc(3, sizeof(*p->dra.classes));
    p->dra.classes[0].name = xstrdup("gpu.nvidia.com");
    p->dra.classes[0].kind = DRA_CLASS_GPU;
    p->dra.classes[1].name = xstrdup("mig.nvidia.com");
    p->dra.classes[1].kind = DRA_CLASS_MIG;
    p->dra.classes[2].name = xstrdup("vfio.gpu.nvidia.com");
    p->dra.classes[2].kind = DRA_CLASS_GPU;
    p->dra.nclasses = 3;
    p->dra.driver = xstrdup("gpu.nvidia.com");
    p->dra.default_sharing = SHARING_EXCLUSIVE;
    p->dra.pods_with_claims_are_gpu_pods = true;
}

/* ---------------------------------------------------------------------------------------- */
/* Tenants                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static int
load_ref_compare(const void *a, const void *b)
{
    const struct load_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void
load_patterns(struct loader *ld, const struct node *seq, struct policy_tenant *t)
{
    if (!load_expect(ld, seq, NODE_SEQUENCE, "serviceAccounts"))
        return;
    if (seq->count == 0) {
        load_error(ld, seq,
                   "serviceAccounts must list at least one pattern (leave it out to allow every "
                   "service account)");
        return;
    }
    t->patterns = xcalloc(seq->count, sizeof(*t->patterns));
    for (size_t i = 0; i < seq->count; i++) {
        const struct node *n = seq->items[i];
        const char *s = load_string(ld, n, "serviceAccounts entry");
        PCRE2_SIZE offset;
        pcre2_code *code;
        int code_error;

        if (s == NULL)
            continue;
        if (s[0] == '\0') {
            load_error(ld, n, "serviceAccounts entry must not be empty");
            continue;
        }
        /* Anchored at both ends, so "trainer-.*" must match the whole name, not a part. */
        code = pcre2_compile((PCRE2_SPTR)s, strlen(s), PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                             &code_error, &offset, NULL);
        if (code == NULL) {
            PCRE2_UCHAR message[128];

            if (pcre2_get_error_message(code_error, message, sizeof(message)) < 0)
                snprintf((char *)message, sizeof(message), "error %d", code_error);
            load_error(ld, n, "invalid pattern \"%.*s%s\": %s at offset %zu", QUOTE(s),
                       (const char *)message, (size_t)offset);
            continue;
        }
        /* Without JIT support the interpreter still matches, only slower. */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        t->patterns[t->npatterns].source = xstrdup(s);
        t->patterns[t->npatterns].code = code;
        t->npatterns++;
    }
}

static void
load_sharing(struct loader *ld, const struct node *seq, struct policy_tenant *t)
{
    static const char *const names[] = {"exclusive", "time-slicing", "mps", "mig"};
    static const unsigned bits[] = {SHARING_EXCLUSIVE, SHARING_TIME_SLICING, SHARING_MPS,
                                    SHARING_MIG};

    if (!load_expect(ld, seq, NODE_SEQUENCE, "sharing"))
        return;
    if (seq->count == 0) {
        load_error(ld, seq,
                   "sharing must list at least one strategy (expected exclusive, time-slicing, "
                   "mps or mig)");
        return;
    }
    for (size_t i = 0; i < seq->count; i++) {
        const char *s = load_string(ld, seq->items[i], "sharing entry");
        size_t j;

        if (s == NULL)
            continue;
        for (j = 0; j < 4; j++) {
            if (strcmp(s, names[j]) == 0)
                break;
        }
        if (j < 4)
            t->sharing |= bits[j];
        else
            load_error(ld, seq->items[i],
                       "unknown sharing strategy \"%.*s%s\" (expected exclusive, time-slicing, "
                       "mps or mig)",
                       QUOTE(s));
    }
}

static int
load_quota_compare(const void *a, const void *b)
{
    const struct policy_quota *x = a, *y = b;

    return strcmp(x->resource, y->resource);
}

static void
load_quota(struct loader *ld, const struct node *map, struct policy_tenant *t)
{
    if (!load_expect(ld, map, NODE_MAPPING, "quota"))
        return;
    t->has_quota = true;
    t->quota = xcalloc(map->count / 2 + 1, sizeof(*t->quota));
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct node *key = map->items[i], *value = map->items[i + 1];
        const char *s = load_string(ld, key, "quota key");
        char what[LOAD_QUOTE_MAX + 32], cls[256], norm[320];
        int64_t ceiling;
        bool seen = false;

        if (s == NULL)
            continue;
        if (!name_is_gpu_resource(s) && dra_quota_parse(s, cls, sizeof(cls), norm, sizeof(norm))) {
            /* A DRA key counts devices of one class: only a listed class hands out GPUs. */
            if (dra_class_find(ld->policy, cls) == NULL) {
                load_error(ld, key,
                           "quota key \"%.*s%s\" names device class \"%.*s%s\", which is not in "
                           "settings.dra.deviceClasses",
                           QUOTE(s), QUOTE(cls));
                continue;
            }
            s = norm;
        } else if (!name_is_gpu_resource(s) && strstr(s, "deviceclass.resource.") != NULL) {
            load_error(ld, key,
                       "unknown DRA quota key \"%.*s%s\" (expected "
                       "<class>.deviceclass.resource.k8s.io/devices or "
                       "deviceclass.resource.kubernetes.io/<class>)",
                       QUOTE(s));
            continue;
        } else if (!name_is_gpu_resource(s)) {
            load_error(ld, key,
                       "unknown GPU resource \"%.*s%s\" in quota (expected nvidia.com/gpu, "
                       "nvidia.com/gpu.shared, nvidia.com/mig-<profile> or "
                       "nvidia.com/mig-<profile>.shared)",
                       QUOTE(s));
            continue;
        }
        for (size_t j = 0; j < t->nquota && !seen; j++)
            seen = strcmp(t->quota[j].resource, s) == 0;
        if (seen && strcmp(s, key->value) != 0) {
            /* The "requests." form names the same resource as the bare one. */
            load_error(ld, key, "duplicate key \"%.*s%s\" in quota (the same resource as %.*s%s)",
                       QUOTE(key->value), QUOTE(s));
            continue;
        }
        if (seen) {
            load_error(ld, key, "duplicate key \"%s\" in quota", s);
            continue;
        }
        snprintf(what, sizeof(what), "quota for \"%.*s%s\"", QUOTE(s));
        if (!load_number(ld, value, what, false, &ceiling))
            continue;
        t->quota[t->nquota].resource = xstrdup(s);
        t->quota[t->nquota].ceiling = ceiling;
        t->nquota++;
    }
    if (t->nquota > 1)
        qsort(t->quota, t->nquota, sizeof(*t->quota), load_quota_compare);
}

/*
 * Returns true when t's quota gives some GPU resource its sharing strategies and MIG profiles
 * let it use a ceiling above 0.
 */
static bool
load_quota_allows_any(const struct policy *p, const struct policy_tenant *t)
{
    char name[128];

    for (size_t i = 0; i < p->dra.nclasses; i++) {
        if (dra_tenant_may_use_class(t, &p->dra.classes[i]) &&
            dra_class_ceiling(t, p->dra.classes[i].name) > 0)
            return true;
    }

    if ((t->sharing & (SHARING_EXCLUSIVE | SHARING_TIME_SLICING | SHARING_MPS)) &&
        policy_tenant_quota_for(t, "nvidia.com/gpu") > 0)
        return true;
    if ((t->sharing & (SHARING_TIME_SLICING | SHARING_MPS)) &&
        policy_tenant_quota_for(t, "nvidia.com/gpu.shared") > 0)
        return true;
    if (!(t->sharing & SHARING_MIG))
        return false;
    for (size_t i = 0; i < t->mig_profiles.count; i++) {
        snprintf(name, sizeof(name), "nvidia.com/mig-%s", t->mig_profiles.items[i]);
        if (policy_tenant_quota_for(t, name) > 0)
            return true;
        snprintf(name, sizeof(name), "nvidia.com/mig-%s.shared", t->mig_profiles.items[i]);
        if ((t->sharing & SHARING_TIME_SLICING) && policy_tenant_quota_for(t, name) > 0)
            return true;
    }
    return false;
}

enum {
    T_NAME,
    T_NAMESPACES,
    T_SERVICE_ACCOUNTS,
    T_SHARING,
    T_PRODUCTS,
    T_MIG_PROFILES,
    T_MAX_GPUS,
    T_QUOTA,
    T_MODE,
    T_DEVICE_CLASSES,
    T_ADMIN_ACCESS,
    T_COUNT
};

/*
 * Checks the quota against what the tenant may use, once the tenant is otherwise valid: both
 * mistakes load, but one leaves the tenant unable to run anything and the other leaves its
 * shared and MIG GPUs uncapped.
 */
static void
load_tenant_lint(struct loader *ld, const struct policy_tenant *t, const struct node **v)
{
    const struct policy *p = ld->policy;
    bool dra_usable = false, dra_allowed = false;

    for (size_t i = 0; i < p->dra.nclasses; i++) {
        if (!dra_tenant_may_use_class(t, &p->dra.classes[i]))
            continue;
        dra_usable = true;
        dra_allowed = dra_allowed || dra_class_ceiling(t, p->dra.classes[i].name) != 0;
    }
    if (t->has_quota && !load_quota_allows_any(p, t))
        load_warning(ld, v[T_QUOTA],
                     "tenant \"%s\": quota leaves every GPU resource it may use at 0: its GPU "
                     "pods can never run",
                     t->name);
    else if (t->has_quota && dra_usable && !dra_allowed &&
             (p->dra.written || t->device_classes.count > 0))
        /* Only for policies that speak of DRA: others may not use it, and need not say so. */
        load_warning(ld, v[T_QUOTA],
                     "tenant \"%s\": quota leaves every device class it may claim at 0: its GPU "
                     "ResourceClaims can never be admitted",
                     t->name);
    for (size_t i = 0; v[T_DEVICE_CLASSES] != NULL && i < v[T_DEVICE_CLASSES]->count; i++) {
        const struct node *n = v[T_DEVICE_CLASSES]->items[i];
        const struct policy_dra_class *c = dra_class_find(p, n->value);

        if (c == NULL)
            load_warning(ld, n,
                         "device class \"%.*s%s\" is not in settings.dra.deviceClasses: it hands "
                         "out no GPUs as far as the policy knows, so this entry has no effect",
                         QUOTE(n->value));
        else if (!dra_tenant_may_use_class(t, c))
            load_warning(ld, n,
                         "device class \"%s\" hands out %s, which tenant \"%s\"'s sharing does "
                         "not allow: this entry has no effect",
                         c->name, c->kind == DRA_CLASS_MIG ? "MIG devices" : "whole GPUs", t->name);
    }
    if (!t->has_quota && (t->sharing & (SHARING_TIME_SLICING | SHARING_MPS | SHARING_MIG)))
        load_warning(ld, v[T_NAME],
                     "tenant \"%s\" has no quota: nothing caps its shared or MIG GPUs", t->name);
}

static void
load_tenant(struct loader *ld, const struct node *map, size_t index, struct policy_tenant *t)
{
    static const char *const names[T_COUNT] = {"name",          "namespaces", "serviceAccounts",
                                               "sharing",       "products",   "migProfiles",
                                               "maxGpusPerPod", "quota",      "mode",
                                               "deviceClasses", "adminAccess"};
    const struct node *v[T_COUNT];
    size_t errors = ld->diags->errors;
    const char *s;

    t->max_gpus_per_pod = -1;
    if (!load_expect(ld, map, NODE_MAPPING, "tenant"))
        return;
    load_fields(ld, map, "tenant", names, T_COUNT, v);

    if (v[T_NAME] == NULL) {
        load_missing(ld, map, "name", "tenant", NULL);
    } else if ((s = load_string(ld, v[T_NAME], "tenant name")) != NULL) {
        if (name_is_dns_label(s)) {
            t->name = xstrdup(s);
            load_ref_add(&ld->tenant_names, t->name, v[T_NAME], index);
        } else {
            load_error(ld, v[T_NAME],
                       "invalid tenant name \"%.*s%s\" (expected a DNS label like research: at "
                       "most 63 lowercase letters, digits or '-')",
                       QUOTE(s));
        }
    }

    if (v[T_NAMESPACES] == NULL)
        load_missing(ld, map, "namespaces", "tenant", NULL);
    else if (load_strings(ld, v[T_NAMESPACES], "namespaces", check_namespace, &t->namespaces,
                          &ld->namespaces, index) == 0 &&
             t->namespaces.count == 0)
        load_error(ld, v[T_NAMESPACES], "namespaces must list at least one namespace");

    if (v[T_SERVICE_ACCOUNTS] != NULL)
        load_patterns(ld, v[T_SERVICE_ACCOUNTS], t);

    if (v[T_SHARING] == NULL)
        load_missing(ld, map, "sharing", "tenant",
                     "expected a list of exclusive, time-slicing, mps or mig");
    else
        load_sharing(ld, v[T_SHARING], t);

    if (v[T_PRODUCTS] == NULL) {
        load_missing(ld, map, "products", "tenant", "expected a list of GPU models");
    } else if (load_strings(ld, v[T_PRODUCTS], "products", check_product, &t->products, NULL, 0) ==
                   0 &&
               t->products.count == 0) {
        load_error(ld, v[T_PRODUCTS], "products must list at least one GPU model");
    }
    policy_strings_sort_unique(&t->products);

    if (v[T_MIG_PROFILES] != NULL) {
        if (load_strings(ld, v[T_MIG_PROFILES], "migProfiles", check_mig_profile, &t->mig_profiles,
                         NULL, 0) == 0) {
            if ((t->sharing & SHARING_MIG) && t->mig_profiles.count == 0)
                load_error(ld, v[T_MIG_PROFILES], "sharing has mig but migProfiles is empty");
            else if (t->sharing != 0 && !(t->sharing & SHARING_MIG))
                load_warning(ld, v[T_MIG_PROFILES],
                             "migProfiles has no effect: sharing does not have mig");
        }
        policy_strings_sort_unique(&t->mig_profiles);
    } else if (t->sharing & SHARING_MIG) {
        load_missing(ld, map, "migProfiles", "tenant", "required when sharing has mig");
    }

    if (v[T_MAX_GPUS] != NULL)
        load_number(ld, v[T_MAX_GPUS], "maxGpusPerPod", true, &t->max_gpus_per_pod);
    if (v[T_QUOTA] != NULL)
        load_quota(ld, v[T_QUOTA], t);
    if (v[T_MODE] != NULL)
        t->has_mode = load_mode(ld, v[T_MODE], &t->mode);
    if (v[T_DEVICE_CLASSES] != NULL) {
        t->has_device_classes = true;
        load_strings(ld, v[T_DEVICE_CLASSES], "deviceClasses", check_device_class,
                     &t->device_classes, NULL, 0);
        policy_strings_sort_unique(&t->device_classes);
    }
    if (v[T_ADMIN_ACCESS] != NULL)
        load_bool(ld, v[T_ADMIN_ACCESS], "adminAccess", &t->admin_access);

    if (ld->diags->errors == errors)
        load_tenant_lint(ld, t, v);
}

/* Describes tenant i for messages: by name, or by position when it has no valid name. */
static void
load_tenant_label(const struct loader *ld, const struct policy *p, size_t i, char *buf, size_t size)
{
    if (p->tenants[i].name != NULL)
        snprintf(buf, size, "tenant \"%s\"", p->tenants[i].name);
    else
        snprintf(buf, size, "the tenant at line %u", ld->tenant_nodes[i]->line);
}

/*
 * The checks across tenants: unique names, each namespace in at most one tenant and in none
 * of the exempt namespaces. Sorting by name puts each name's occurrences together, first one
 * first, so this stays fast for policies with many namespaces.
 */
static void
load_cross_check(struct loader *ld, struct policy *p)
{
    struct load_refs *names = &ld->tenant_names, *ns = &ld->namespaces;
    char owner[96];

    if (names->count > 1)
        qsort(names->items, names->count, sizeof(*names->items), load_ref_compare);
    for (size_t i = 1; i < names->count; i++) {
        if (strcmp(names->items[i].name, names->items[i - 1].name) == 0)
            load_error(ld, names->items[i].node, "duplicate tenant name \"%s\"",
                       names->items[i].name);
    }
    if (ns->count > 1)
        qsort(ns->items, ns->count, sizeof(*ns->items), load_ref_compare);
    for (size_t i = 0, first = 0; i < ns->count; i++) {
        const struct load_ref *r = &ns->items[i];

        if (i == 0 || strcmp(r->name, ns->items[i - 1].name) != 0)
            first = i;
        if (policy_strings_contains(&p->exempt_namespaces, r->name)) {
            load_error(ld, r->node,
                       "namespace \"%s\" is in exemptNamespaces, so it cannot belong to a tenant",
                       r->name);
        } else if (i != first && ns->items[first].owner == r->owner) {
            load_error(ld, r->node, "namespace \"%s\" is listed twice", r->name);
        } else if (i != first) {
            load_tenant_label(ld, p, ns->items[first].owner, owner, sizeof(owner));
            load_error(ld, r->node, "namespace \"%s\" already belongs to %s", r->name, owner);
        }
    }
}

static void
load_tenants(struct loader *ld, const struct node *seq, struct policy *p)
{
    if (!load_expect(ld, seq, NODE_SEQUENCE, "tenants"))
        return;
    if (seq->count == 0) {
        load_error(ld, seq, "tenants must list at least one tenant");
        return;
    }
    p->tenants = xcalloc(seq->count, sizeof(*p->tenants));
    p->ntenants = seq->count;
    ld->tenant_nodes = xcalloc(seq->count, sizeof(const struct node *));
    for (size_t i = 0; i < seq->count; i++) {
        ld->tenant_nodes[i] = seq->items[i];
        load_tenant(ld, seq->items[i], i, &p->tenants[i]);
    }
    load_cross_check(ld, p);
}

/* ---------------------------------------------------------------------------------------- */
/* The document                                                                              */
/* ---------------------------------------------------------------------------------------- */

static void
load_document(struct loader *ld, const struct node *root, struct policy *p)
{
    enum { D_API_VERSION, D_KIND, D_SETTINGS, D_TENANTS, D_COUNT };
    static const char *const names[D_COUNT] = {"apiVersion", "kind", "settings", "tenants"};
    const struct node *v[D_COUNT];
    const char *s;

    if (root == NULL) {
        load_error_at(ld, 0, 0, "the policy file is empty (expected a %s)", LOAD_KIND);
        return;
    }
    if (!load_expect(ld, root, NODE_MAPPING, "the policy"))
        return;
    load_fields(ld, root, "policy", names, D_COUNT, v);
    if (v[D_API_VERSION] == NULL)
        load_missing(ld, root, "apiVersion", "policy", "expected apiVersion: " LOAD_API_VERSION);
    else if ((s = load_string(ld, v[D_API_VERSION], "apiVersion")) != NULL &&
             strcmp(s, LOAD_API_VERSION) != 0)
        load_error(ld, v[D_API_VERSION],
                   "unsupported apiVersion \"%.*s%s\" (expected " LOAD_API_VERSION ")", QUOTE(s));
    if (v[D_KIND] == NULL)
        load_missing(ld, root, "kind", "policy", "expected kind: " LOAD_KIND);
    else if ((s = load_string(ld, v[D_KIND], "kind")) != NULL && strcmp(s, LOAD_KIND) != 0)
        load_error(ld, v[D_KIND], "unsupported kind \"%.*s%s\" (expected " LOAD_KIND ")", QUOTE(s));
    if (v[D_SETTINGS] != NULL)
        load_settings(ld, v[D_SETTINGS], p);
    if (v[D_TENANTS] == NULL)
        load_missing(ld, root, "tenants", "policy", NULL);
    else
        load_tenants(ld, v[D_TENANTS], p);
}

/* 64-bit FNV-1a of the file's bytes, as 16 lowercase hex digits. */
static void
load_digest(const char *data, size_t len, char out[17])
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 0x100000001b3u;
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

/*
 * Loads a policy from len bytes at data; name stands for the file in diagnostics and in the
 * policy. Returns 0 and stores a new policy (owned by the caller) in *out, or -1 when any
 * error was reported. Errors and warnings alike are appended to diags, in file order.
 */
int
policy_load_buffer(const char *name, const char *data, size_t len, struct policy **out,
                   struct diags *diags)
{
    struct loader ld = {.name = name != NULL ? name : "<input>", .diags = diags};
    size_t first = diags->count, errors = diags->errors;
    struct node *root = NULL;
    struct policy *p = NULL;
    int rc = -1;

    ld.data = data != NULL ? data : "";
    ld.len = data != NULL ? len : 0;
    if (ld.len > LOAD_MAX_BYTES) {
        load_error_at(&ld, 0, 0, "policy file is too large (%zu bytes, at most %zu)", ld.len,
                      LOAD_MAX_BYTES);
        goto out;
    }
    if (load_parse(&ld, &root) < 0)
        goto out;
    p = xcalloc(1, sizeof(*p));
    load_defaults(p);
    ld.policy = p;
    load_document(&ld, root, p);
    if (diags->errors != errors)
        goto out;
    if (policy_index_namespaces(p) < 0) {
        /* The cross-check reports every repeated namespace, so this is a bug if reached. */
        load_error_at(&ld, 0, 0, "a namespace belongs to more than one tenant");
        goto out;
    }
    /* Built once here, so /mutate compares and adds ready strings. */
    for (size_t i = 0; i < p->ntenants; i++) {
        for (int k = 0; k < DRA_CLASS_KINDS; k++)
            p->tenants[i].dra_selectors[k] =
                dra_selector_new(p, &p->tenants[i], (enum dra_class_kind)k);
    }
    p->file = xstrdup(ld.name);
    load_digest(ld.data, ld.len, p->digest);
    *out = p;
    p = NULL;
    rc = 0;
out:
    load_sort_diags(diags, first);
    free(ld.tenant_names.items);
    free(ld.namespaces.items);
    free(ld.tenant_nodes);
    node_free(root);
    policy_free(p);
    return rc;
}

/*
 * Reads the policy file at path whole and loads it like policy_load_buffer. An unreadable or
 * oversized file is an error without a position.
 */
int
policy_load_file(const char *path, struct policy **out, struct diags *diags)
{
    char *data = NULL;
    size_t len;
    int rc = file_read(path, LOAD_MAX_BYTES, &data, &len);

    if (rc == FILE_TOO_LARGE) {
        diags_add(diags, false, path, 0, 0, "policy file is too large (more than %zu bytes)",
                  LOAD_MAX_BYTES);
        return -1;
    }
    if (rc < 0) {
        diags_add(diags, false, path, 0, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    rc = policy_load_buffer(path, data, len, out, diags);
    free(data);
    return rc;
}
