/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes manifests: YAML or JSON files of objects, read into cJSON with their positions. */
#include "webhook/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "policy/file.h"
#include "policy/json.h"
#include "policy/xalloc.h"

/* Nodes that aliases may add to one file, so that a few anchors cannot expand into gigabytes. */
#define MF_ALIAS_NODES_MAX 1000000
/* Text quoted in messages is cut to this many bytes. */
#define MF_QUOTE_MAX 64

/* Where a collection was opened in the file, so that List items can be placed. */
struct mf_mark {
    const cJSON *node;
    unsigned line, column;
};

/* One document of the file as parsed, before its objects are taken out. */
struct mf_doc {
    cJSON *root; /* owned; NULL for an empty document */
    unsigned line, column;
    struct mf_mark *marks; /* the mappings that are items of a sequence under the root mapping */
    size_t nmarks, cap;
};

struct mf_reader {
    const char *name;
    const char *data;
    size_t len;
    struct diags *diags;
    size_t errors_before;
    struct manifest *out;
    size_t alias_nodes;
};

static void mf_error(struct mf_reader *r, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
mf_error(struct mf_reader *r, unsigned line, unsigned column, const char *fmt, ...)
{
    char message[DIAG_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    diags_add(r->diags, false, r->name, line, column, "%s", message);
}

/* Returns the height of a tree: 0 for a scalar, 1 + the tallest child for a collection. */
static size_t
mf_height(const cJSON *node)
{
    const cJSON *child;
    size_t h = 0;

    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return 0;
    cJSON_ArrayForEach(child, node)
    {
        size_t c = mf_height(child);
        if (c > h)
            h = c;
    }
    return h + 1;
}

static size_t
mf_count(const cJSON *node)
{
    const cJSON *child;
    size_t n = 1;

    cJSON_ArrayForEach(child, node) n += mf_count(child);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* YAML scalars                                                                              */
/* ---------------------------------------------------------------------------------------- */

/*
 * Kubernetes decodes YAML against each kind's schema, so an unquoted 8 in a label value
 * becomes the string "8". Without the schema, the places that are strings in every kind this
 * tool judges keep their text; everywhere else plain scalars are typed as YAML 1.1 would.
 */
enum mf_context {
    MF_CONTEXT_NONE,
    MF_CONTEXT_STRING_MAP, /* a mapping whose values are strings (labels, quantities) */
    MF_CONTEXT_STRING_SEQ, /* a sequence whose items are strings (selector values) */
};

static bool
mf_in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Returns true when the value of key is a string in every Kubernetes object that has it. */
static bool
mf_key_is_string(const char *key)
{
    static const char *const keys[] = {
        "apiVersion", "kind",           "name",           "namespace", "generateName",
        "key",        "operator",       "value",          "effect",    "serviceAccountName",
        "nodeName",   "serviceAccount", "schedulerName",  "image",     "priorityClassName",
        "uid",        "restartPolicy",  "resourceVersion"};
    return key != NULL && mf_in_list(key, keys, sizeof(keys) / sizeof(keys[0]));
}

static enum mf_context
mf_context_for(const char *key, bool mapping)
{
    /* Label-like maps, and the resource lists whose quantities the API sends as strings. */
    static const char *const maps[] = {"labels",   "annotations", "nodeSelector", "matchLabels",
                                       "limits",   "requests",    "hard",         "allocatable",
                                       "capacity", "used"};
    static const char *const seqs[] = {"values"};

    if (key == NULL)
        return MF_CONTEXT_NONE;
    if (mapping && mf_in_list(key, maps, sizeof(maps) / sizeof(maps[0])))
        return MF_CONTEXT_STRING_MAP;
    if (!mapping && mf_in_list(key, seqs, sizeof(seqs) / sizeof(seqs[0])))
        return MF_CONTEXT_STRING_SEQ;
    return MF_CONTEXT_NONE;
}

/* Returns true when s is a YAML 1.1 integer in octal (0755) or hexadecimal (0x1F) notation. */
static bool
mf_parse_radix(const char *s, double *out)
{
    const char *p = s;
    int base;
    bool negative = false;
    unsigned long long n;
    char *end;

    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    if (p[0] != '0' || p[1] == '\0')
        return false;
    if (p[1] == 'x' || p[1] == 'X') {
        base = 16;
        p += 2;
        if (strspn(p, "0123456789abcdefABCDEF") != strlen(p) || *p == '\0')
            return false;
    } else {
        base = 8;
        p += 1;
        if (strspn(p, "01234567") != strlen(p))
            return false;
    }
    errno = 0;
    n = strtoull(p, &end, base);
    if (errno != 0 || *end != '\0')
        return false;
    *out = negative ? -(double)n : (double)n;
    return true;
}

/* Returns true when s is a decimal integer or float as Go's YAML decoder reads them. */
static bool
mf_parse_decimal(const char *s, double *out)
{
    const char *p = s;
    size_t digits = 0, frac = 0;
    char *end;
    double d;

    if (*p == '-' || *p == '+')
        p++;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            frac++;
        }
    }
    if (digits == 0 && frac == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return false;
    errno = 0;
    d = strtod(s, &end);
    /* Infinities have no JSON form; such a scalar stays text. */
    if (errno == ERANGE && (d > 1.0 || d < -1.0))
        return false;
    *out = d;
    return true;
}

enum mf_type { MF_TYPE_ANY, MF_TYPE_STR, MF_TYPE_INT, MF_TYPE_FLOAT, MF_TYPE_BOOL, MF_TYPE_NULL };

static enum mf_type
mf_tag_type(const char *tag)
{
    static const struct {
        const char *tag;
        enum mf_type type;
    } tags[] = {
        {"!", MF_TYPE_STR},
        {YAML_STR_TAG, MF_TYPE_STR},
        {YAML_INT_TAG, MF_TYPE_INT},
        {YAML_FLOAT_TAG, MF_TYPE_FLOAT},
        {YAML_BOOL_TAG, MF_TYPE_BOOL},
        {YAML_NULL_TAG, MF_TYPE_NULL},
    };

    for (size_t i = 0; tag != NULL && i < sizeof(tags) / sizeof(tags[0]); i++)
        if (strcmp(tag, tags[i].tag) == 0)
            return tags[i].type;
    return MF_TYPE_ANY;
}

/*
 * Makes the JSON value of a scalar event. Quoted and block scalars are strings; so are plain
 * ones where a string is due (force_string) or tagged !!str. Other plain scalars are null,
 * booleans, numbers or strings by their text. Returns NULL, with why set, for a tag whose type
 * the text does not have.
 */
static cJSON *
mf_scalar(const yaml_event_t *ev, bool force_string, char *why, size_t why_size)
{
    const char *text = (const char *)ev->data.scalar.value;
    enum mf_type type = mf_tag_type((const char *)ev->data.scalar.tag);
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    double d;

    if (type == MF_TYPE_STR || (type == MF_TYPE_ANY && (!plain || force_string)))
        return cJSON_CreateString(text);
    if (type == MF_TYPE_ANY || type == MF_TYPE_NULL) {
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
        if (mf_in_list(text, nulls, sizeof(nulls) / sizeof(nulls[0])))
            return cJSON_CreateNull();
    }
    if (type == MF_TYPE_ANY || type == MF_TYPE_BOOL) {
        static const char *const yes[] = {"true", "True", "TRUE"};
        static const char *const no[] = {"false", "False", "FALSE"};
        if (mf_in_list(text, yes, 3))
            return cJSON_CreateTrue();
        if (mf_in_list(text, no, 3))
            return cJSON_CreateFalse();
    }
    if (type == MF_TYPE_ANY || type == MF_TYPE_INT || type == MF_TYPE_FLOAT) {
        if (mf_parse_radix(text, &d) || mf_parse_decimal(text, &d))
            return cJSON_CreateNumber(d);
    }
    if (type == MF_TYPE_ANY)
        return cJSON_CreateString(text);
    snprintf(why, why_size, "\"%.*s\" is not a valid %s", MF_QUOTE_MAX, text,
             (const char *)ev->data.scalar.tag);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* YAML collections                                                                          */
/* ---------------------------------------------------------------------------------------- */

struct mf_key {
    const char *name; /* borrowed from the member */
    unsigned line, column;
    size_t order;
};

/* A mapping or sequence being filled. */
struct mf_frame {
    cJSON *node; /* owned by its parent once attached; the root is held by the document */
    bool mapping;
    enum mf_context context;
    unsigned line, column;
    char *anchor; /* owned, or NULL */
    /* Mappings only. */
    char *key; /* owned; the key whose value comes next, or NULL */
    unsigned key_line, key_column;
    bool key_is_merge; /* the pending key is the YAML merge key "<<" */
    cJSON *merges;     /* owned array of mappings to merge in at the end, or NULL */
    struct mf_key *keys;
    size_t nkeys, kcap;
};

struct mf_anchor {
    char *name;
    cJSON *value; /* owned copy */
    size_t height, nodes;
};

struct mf_parser {
    struct mf_reader *r;
    struct mf_frame stack[MANIFEST_MAX_DEPTH];
    size_t depth;
    struct mf_doc doc;
    bool have_root_mark;
    struct mf_anchor *anchors;
    size_t nanchors, acap;
};

static void
mf_frame_clear(struct mf_frame *f)
{
    free(f->anchor);
    free(f->key);
    cJSON_Delete(f->merges);
    free(f->keys);
    memset(f, 0, sizeof(*f));
}

static void
mf_anchors_clear(struct mf_parser *ps)
{
    for (size_t i = 0; i < ps->nanchors; i++) {
        free(ps->anchors[i].name);
        cJSON_Delete(ps->anchors[i].value);
    }
    ps->nanchors = 0;
}

/* Remembers a copy of value under name; a later anchor of the same name hides earlier ones. */
static void
mf_anchor_set(struct mf_parser *ps, const char *name, const cJSON *value)
{
    struct mf_anchor *a;

    xgrow(&ps->anchors, &ps->acap, ps->nanchors + 1, sizeof(*ps->anchors));
    a = &ps->anchors[ps->nanchors++];
    a->name = xstrdup(name);
    a->value = cJSON_Duplicate(value, true);
    a->height = mf_height(value);
    a->nodes = mf_count(value);
}

static const struct mf_anchor *
mf_anchor_find(const struct mf_parser *ps, const char *name)
{
    for (size_t i = ps->nanchors; i > 0; i--)
        if (strcmp(ps->anchors[i - 1].name, name) == 0)
            return &ps->anchors[i - 1];
    return NULL;
}

static int
mf_key_compare(const void *a, const void *b)
{
    const struct mf_key *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Reports the first key defined twice in a mapping. Returns 0, or -1 when there is one. */
static int
mf_check_duplicates(struct mf_parser *ps, struct mf_frame *f)
{
    const struct mf_key *dup = NULL, *first = NULL;

    if (f->nkeys < 2)
        return 0;
    qsort(f->keys, f->nkeys, sizeof(*f->keys), mf_key_compare);
    for (size_t i = 1; i < f->nkeys; i++) {
        if (strcmp(f->keys[i - 1].name, f->keys[i].name) != 0)
            continue;
        if (dup == NULL || f->keys[i].order < dup->order) {
            dup = &f->keys[i];
            first = &f->keys[i - 1];
        }
    }
    if (dup == NULL)
        return 0;
    mf_error(ps->r, dup->line, dup->column, "duplicate key \"%.*s\" (first at line %u)",
             MF_QUOTE_MAX, dup->name, first->line);
    return -1;
}

/*
 * Adds the members of the merged mappings (<<) that the mapping does not set itself; the
 * earlier of several merged mappings wins, as the YAML merge key specification says.
 */
static void
mf_apply_merges(struct mf_frame *f)
{
    cJSON *src, *member;

    cJSON_ArrayForEach(src, f->merges)
    {
        while ((member = src->child) != NULL) {
            member = cJSON_DetachItemViaPointer(src, member);
            if (json_get(f->node, member->string) != NULL)
                cJSON_Delete(member);
            else
                cJSON_AddItemToArray(f->node, member); /* keeps member->string as its key */
        }
    }
    cJSON_Delete(f->merges);
    f->merges = NULL;
}

/*
 * Adds a finished value (owned; freed on error) to the innermost open collection, or makes it
 * the document's root. For a mapping the value is either a key, the value of the pending key,
 * or what a merge key merges in. Returns 0 or -1 after reporting.
 */
static int
mf_attach(struct mf_parser *ps, cJSON *value, const yaml_mark_t *mark)
{
    struct mf_frame *f;

    if (ps->depth == 0) {
        ps->doc.root = value;
        return 0;
    }
    f = &ps->stack[ps->depth - 1];
    if (!f->mapping) {
        cJSON_AddItemToArray(f->node, value);
        return 0;
    }
    if (f->key == NULL) {
        /* A key: only scalars (or aliases of strings) name members of a JSON object. */
        if (!cJSON_IsString(value)) {
            mf_error(ps->r, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
                     "mapping keys must be strings (Kubernetes objects are JSON)");
            cJSON_Delete(value);
            return -1;
        }
        f->key = xstrdup(value->valuestring);
        f->key_line = (unsigned)mark->line + 1;
        f->key_column = (unsigned)mark->column + 1;
        cJSON_Delete(value);
        return 0;
    }
    if (f->key_is_merge) {
        cJSON *item;
        bool ok = cJSON_IsObject(value);

        if (cJSON_IsArray(value)) {
            ok = true;
            cJSON_ArrayForEach(item, value) ok = ok && cJSON_IsObject(item);
        }
        if (!ok) {
            mf_error(ps->r, f->key_line, f->key_column,
                     "the merge key << takes a mapping or a sequence of mappings");
            cJSON_Delete(value);
            return -1;
        }
        if (f->merges == NULL)
            f->merges = cJSON_CreateArray();
        if (cJSON_IsObject(value)) {
            cJSON_AddItemToArray(f->merges, value);
        } else {
            while ((item = value->child) != NULL)
                cJSON_AddItemToArray(f->merges, cJSON_DetachItemViaPointer(value, item));
            cJSON_Delete(value);
        }
    } else {
        cJSON_AddItemToObject(f->node, f->key, value);
        xgrow(&f->keys, &f->kcap, f->nkeys + 1, sizeof(*f->keys));
        f->keys[f->nkeys].name = value->string;
        f->keys[f->nkeys].line = f->key_line;
        f->keys[f->nkeys].column = f->key_column;
        f->keys[f->nkeys].order = f->nkeys;
        f->nkeys++;
    }
    free(f->key);
    f->key = NULL;
    f->key_is_merge = false;
    return 0;
}

/* Returns true when the next value attached to the innermost collection must be a string. */
static bool
mf_string_due(const struct mf_parser *ps)
{
    const struct mf_frame *f;

    if (ps->depth == 0)
        return false;
    f = &ps->stack[ps->depth - 1];
    if (!f->mapping)
        return f->context == MF_CONTEXT_STRING_SEQ;
    if (f->key == NULL)
        return true;
    return f->context == MF_CONTEXT_STRING_MAP || mf_key_is_string(f->key);
}

/* The key a collection opening now is the value of, or NULL. */
static const char *
mf_pending_key(const struct mf_parser *ps)
{
    const struct mf_frame *f = ps->depth ? &ps->stack[ps->depth - 1] : NULL;

    return f != NULL && f->mapping ? f->key : NULL;
}

static void
mf_note_position(struct mf_parser *ps, const yaml_mark_t *mark)
{
    if (ps->have_root_mark)
        return;
    ps->doc.line = (unsigned)mark->line + 1;
    ps->doc.column = (unsigned)mark->column + 1;
    ps->have_root_mark = true;
}

static int
mf_on_scalar(struct mf_parser *ps, const yaml_event_t *ev)
{
    const struct mf_frame *f = ps->depth ? &ps->stack[ps->depth - 1] : NULL;
    char why[DIAG_MESSAGE_MAX];
    cJSON *value;

    mf_note_position(ps, &ev->start_mark);
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
        mf_error(ps->r, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
                 "NUL characters are not allowed in values");
        return -1;
    }
    value = mf_scalar(ev, mf_string_due(ps), why, sizeof(why));
    if (value == NULL) {
        mf_error(ps->r, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
                 "%s", why);
        return -1;
    }
    if (ev->data.scalar.anchor != NULL)
        mf_anchor_set(ps, (const char *)ev->data.scalar.anchor, value);
    /* The merge key is the plain scalar <<; a quoted "<<" is an ordinary key. */
    if (f != NULL && f->mapping && f->key == NULL &&
        ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && cJSON_IsString(value) &&
        strcmp(value->valuestring, "<<") == 0) {
        if (mf_attach(ps, value, &ev->start_mark) < 0)
            return -1;
        ps->stack[ps->depth - 1].key_is_merge = true;
        return 0;
    }
    return mf_attach(ps, value, &ev->start_mark);
}

static int
mf_on_alias(struct mf_parser *ps, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const struct mf_anchor *a = mf_anchor_find(ps, name);
    unsigned line = (unsigned)ev->start_mark.line + 1, column = (unsigned)ev->start_mark.column + 1;

    mf_note_position(ps, &ev->start_mark);
    if (a == NULL) {
        /* libyaml leaves aliases to itself; an anchor still open is one that contains it. */
        mf_error(ps->r, line, column, "unknown anchor \"%.*s\" (or an alias inside its own anchor)",
                 MF_QUOTE_MAX, name);
        return -1;
    }
    if (ps->depth + a->height > MANIFEST_MAX_DEPTH) {
        mf_error(ps->r, line, column, "YAML nested too deeply (at most %d levels)",
                 MANIFEST_MAX_DEPTH);
        return -1;
    }
    ps->r->alias_nodes += a->nodes;
    if (ps->r->alias_nodes > MF_ALIAS_NODES_MAX) {
        mf_error(ps->r, line, column, "aliases expand to more than %d values", MF_ALIAS_NODES_MAX);
        return -1;
    }
    return mf_attach(ps, cJSON_Duplicate(a->value, true), &ev->start_mark);
}

static int
mf_on_start(struct mf_parser *ps, const yaml_event_t *ev)
{
    bool mapping = ev->type == YAML_MAPPING_START_EVENT;
    const yaml_char_t *anchor =
        mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    unsigned line = (unsigned)ev->start_mark.line + 1, column = (unsigned)ev->start_mark.column + 1;
    struct mf_frame *f;

    mf_note_position(ps, &ev->start_mark);
    if (ps->depth == MANIFEST_MAX_DEPTH) {
        mf_error(ps->r, line, column, "YAML nested too deeply (at most %d levels)",
                 MANIFEST_MAX_DEPTH);
        return -1;
    }
    if (ps->depth > 0 && ps->stack[ps->depth - 1].mapping && ps->stack[ps->depth - 1].key == NULL) {
        mf_error(ps->r, line, column, "mapping keys must be strings (Kubernetes objects are JSON)");
        return -1;
    }
    f = &ps->stack[ps->depth];
    memset(f, 0, sizeof(*f));
    f->node = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
    f->mapping = mapping;
    f->context = mf_context_for(mf_pending_key(ps), mapping);
    f->line = line;
    f->column = column;
    f->anchor = anchor != NULL ? xstrdup((const char *)anchor) : NULL;
    /* Items of a sequence under the root mapping: a List's objects, placed for messages. */
    if (mapping && ps->depth == 2 && ps->stack[0].mapping && !ps->stack[1].mapping) {
        xgrow(&ps->doc.marks, &ps->doc.cap, ps->doc.nmarks + 1, sizeof(*ps->doc.marks));
        ps->doc.marks[ps->doc.nmarks].node = f->node;
        ps->doc.marks[ps->doc.nmarks].line = line;
        ps->doc.marks[ps->doc.nmarks].column = column;
        ps->doc.nmarks++;
    }
    ps->depth++;
    return 0;
}

static int
mf_on_end(struct mf_parser *ps, const yaml_event_t *ev)
{
    struct mf_frame *f = &ps->stack[ps->depth - 1];
    cJSON *node = f->node;
    int rc = 0;

    if (f->mapping) {
        rc = mf_check_duplicates(ps, f);
        mf_apply_merges(f);
    }
    if (rc == 0 && f->anchor != NULL)
        mf_anchor_set(ps, f->anchor, node);
    mf_frame_clear(f);
    ps->depth--;
    if (rc < 0) {
        /* A collection joins its parent only when it ends, so this one is still loose. */
        cJSON_Delete(node);
        return -1;
    }
    return mf_attach(ps, node, &ev->start_mark);
}

static void
mf_report_yaml(struct mf_reader *r, const yaml_parser_t *parser)
{
    char message[DIAG_MESSAGE_MAX];
    unsigned line, column;

    diag_yaml_problem(parser, r->data, r->len, &line, &column, message, sizeof(message));
    mf_error(r, line, column, "%s", message);
}

static void mf_take_document(struct mf_reader *r, struct mf_doc *doc);

/*
 * Drops everything a failed parse left open. A collection joins its parent only when it ends,
 * so every open frame owns its node.
 */
static void
mf_parser_unwind(struct mf_parser *ps)
{
    while (ps->depth > 0) {
        struct mf_frame *f = &ps->stack[--ps->depth];
        cJSON_Delete(f->node);
        mf_frame_clear(f);
    }
    cJSON_Delete(ps->doc.root);
    ps->doc.root = NULL;
    free(ps->doc.marks);
    memset(&ps->doc, 0, sizeof(ps->doc));
    mf_anchors_clear(ps);
    free(ps->anchors);
    ps->anchors = NULL;
    ps->acap = 0;
}

/*
 * Parses the YAML stream into documents, handing each to mf_take_document as it ends. Returns 0,
 * or -1 after reporting a syntax error (documents before it have been taken).
 */
static int
mf_parse_yaml(struct mf_reader *r)
{
    struct mf_parser *ps = xcalloc(1, sizeof(*ps));
    yaml_parser_t parser;
    yaml_event_t event;
    bool done = false;
    int rc = -1;

    ps->r = r;
    if (!yaml_parser_initialize(&parser)) {
        mf_error(r, 0, 0, "cannot initialise the YAML parser");
        free(ps);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)r->data, r->len);
    while (!done) {
        int step = 0;

        if (!yaml_parser_parse(&parser, &event)) {
            mf_report_yaml(r, &parser);
            goto out;
        }
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            memset(&ps->doc, 0, sizeof(ps->doc));
            ps->have_root_mark = false;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (!ps->have_root_mark) {
                ps->doc.line = (unsigned)event.start_mark.line + 1;
                ps->doc.column = (unsigned)event.start_mark.column + 1;
            }
            mf_take_document(r, &ps->doc);
            mf_anchors_clear(ps);
            break;
        case YAML_ALIAS_EVENT:
            step = mf_on_alias(ps, &event);
            break;
        case YAML_SCALAR_EVENT:
            step = mf_on_scalar(ps, &event);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            step = mf_on_start(ps, &event);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            /* libyaml balances start and end events. */
            step = mf_on_end(ps, &event);
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
        if (step < 0)
            goto out;
    }
    rc = 0;
out:
    mf_parser_unwind(ps);
    yaml_parser_delete(&parser);
    free(ps);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static size_t
mf_skip_space(const struct mf_reader *r, size_t off)
{
    while (off < r->len && (r->data[off] == ' ' || r->data[off] == '\t' || r->data[off] == '\n' ||
                            r->data[off] == '\r'))
        off++;
    return off;
}

/*
 * Parses one or more JSON values, one after another (as `kubectl get -o json` or jq print
 * them). Returns 0; -1 after reporting an error; or -2, reporting nothing, when the first value
 * does not parse and quiet_first is set, so that the caller may try YAML instead.
 */
static int
mf_parse_json(struct mf_reader *r, size_t off, bool quiet_first)
{
    bool first = true;

    for (off = mf_skip_space(r, off); off < r->len; off = mf_skip_space(r, off), first = false) {
        const char *end = NULL;
        struct mf_doc doc = {0};
        unsigned line, column;
        cJSON *value;

        diag_offset_position(r->data, r->len, off, &line, &column);
        value = cJSON_ParseWithLengthOpts(r->data + off, r->len - off, &end, false);
        if (value == NULL) {
            const char *at = cJSON_GetErrorPtr();
            size_t bad = off;

            if (first && quiet_first)
                return -2;
            if (at != NULL && at >= r->data && at <= r->data + r->len)
                bad = (size_t)(at - r->data);
            diag_offset_position(r->data, r->len, bad, &line, &column);
            mf_error(r, line, column, "invalid JSON");
            return -1;
        }
        if (mf_height(value) > MANIFEST_MAX_DEPTH) {
            mf_error(r, line, column, "JSON nested too deeply (at most %d levels)",
                     MANIFEST_MAX_DEPTH);
            cJSON_Delete(value);
            return -1;
        }
        doc.root = value;
        doc.line = line;
        doc.column = column;
        mf_take_document(r, &doc);
        off = (size_t)(end - r->data);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Objects                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static const char *
mf_type_name(const cJSON *v)
{
    if (cJSON_IsArray(v))
        return "a sequence";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    return "a value";
}

/* Returns true for a List, or a typed list such as PodList (which always has items). */
static bool
mf_is_list(const cJSON *obj, const char *kind)
{
    size_t len = strlen(kind);

    if (strcmp(kind, "List") == 0)
        return true;
    return len > 4 && strcmp(kind + len - 4, "List") == 0 && cJSON_IsArray(json_get(obj, "items"));
}

/* Where List items without a position of their own are reported. */
struct mf_place {
    unsigned line, column;
    const char *what; /* "" for a document, else e.g. "List item 3" */
};

/*
 * Appends obj (owned) to the manifest as one object, or its items when it is a List. Reports an
 * object without apiVersion or kind. cursor walks doc's marks, which follow document order.
 */
static void
mf_add_object(struct mf_reader *r, cJSON *obj, const struct mf_place *at, const struct mf_doc *doc,
              size_t *cursor)
{
    struct manifest *m = r->out;
    const char *api = json_string(obj, "apiVersion"), *kind = json_string(obj, "kind");
    struct manifest_object *o;

    if (!cJSON_IsObject(obj)) {
        mf_error(r, at->line, at->column, "%s%sis %s, not a Kubernetes object", at->what,
                 *at->what ? " " : "a document ", mf_type_name(obj));
        cJSON_Delete(obj);
        return;
    }
    if (api == NULL || *api == '\0' || kind == NULL || *kind == '\0') {
        mf_error(r, at->line, at->column, "%s%shas no %s", at->what, *at->what ? " " : "object ",
                 api == NULL || *api == '\0' ? "apiVersion" : "kind");
        cJSON_Delete(obj);
        return;
    }
    if (mf_is_list(obj, kind)) {
        cJSON *items = json_get(obj, "items"), *item;
        size_t n = 0;

        if (items != NULL && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
            mf_error(r, at->line, at->column, "%s%sitems is %s, not a sequence", at->what,
                     *at->what ? " " : "List ", mf_type_name(items));
            cJSON_Delete(obj);
            return;
        }
        if (!cJSON_IsArray(items))
            items = NULL;

        /* A typed list (PodList) from the API may leave kind and apiVersion off its items. */
        while (items != NULL && (item = items->child) != NULL) {
            struct mf_place where = {at->line, at->column, ""};
            char what[64];

            item = cJSON_DetachItemViaPointer(items, item);
            n++;
            snprintf(what, sizeof(what), "List item %zu", n);
            where.what = what;
            if (doc != NULL && cursor != NULL && cJSON_IsObject(item)) {
                size_t k = *cursor;

                while (k < doc->nmarks && doc->marks[k].node != item)
                    k++;
                if (k < doc->nmarks) {
                    where.line = doc->marks[k].line;
                    where.column = doc->marks[k].column;
                    where.what = "";
                    *cursor = k + 1;
                }
            }
            if (cJSON_IsObject(item) && strcmp(kind, "List") != 0) {
                if (json_string(item, "kind") == NULL) {
                    char *single = xstrndup(kind, strlen(kind) - 4);
                    cJSON_DeleteItemFromObjectCaseSensitive(item, "kind");
                    cJSON_AddStringToObject(item, "kind", single);
                    free(single);
                }
                if (json_string(item, "apiVersion") == NULL) {
                    cJSON_DeleteItemFromObjectCaseSensitive(item, "apiVersion");
                    cJSON_AddStringToObject(item, "apiVersion", api);
                }
            }
            /* Only the outermost List's items have marks; nested Lists report at theirs. */
            mf_add_object(r, item, &where, NULL, NULL);
        }
        cJSON_Delete(obj);
        return;
    }
    xgrow(&m->items, &m->cap, m->count + 1, sizeof(*m->items));
    o = &m->items[m->count];
    o->object = obj;
    o->index = m->count;
    o->line = at->line;
    o->column = at->column;
    m->count++;
}

/* Takes the objects out of a parsed document and frees what remains of it. */
static void
mf_take_document(struct mf_reader *r, struct mf_doc *doc)
{
    struct mf_place at = {doc->line, doc->column, ""};
    size_t cursor = 0;
    cJSON *root = doc->root;

    doc->root = NULL;
    /* An empty document (nothing, or only comments, or null) holds no object. */
    if (root != NULL && !cJSON_IsNull(root))
        mf_add_object(r, root, &at, doc, &cursor);
    else
        cJSON_Delete(root);
    free(doc->marks);
    memset(doc, 0, sizeof(*doc));
}

/* ---------------------------------------------------------------------------------------- */
/* Files                                                                                     */
/* ---------------------------------------------------------------------------------------- */

void
manifest_clear(struct manifest *m)
{
    for (size_t i = 0; i < m->count; i++)
        cJSON_Delete(m->items[i].object);
    free(m->items);
    free(m->file);
    memset(m, 0, sizeof(*m));
}

static bool
mf_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int
manifest_read_buffer(const char *name, const char *data, size_t len, struct manifest *out,
                     struct diags *diags)
{
    struct manifest m = {0};
    struct mf_reader r = {.name = name, .data = data, .len = len, .diags = diags, .out = &m};
    size_t off = 0;
    int rc;

    r.errors_before = diags->errors;
    m.file = xstrdup(name);
    /* A byte order mark is allowed before JSON as before YAML (libyaml skips it itself). */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        off = 3;
    off = mf_skip_space(&r, off);
    if (off < len && (data[off] == '{' || data[off] == '[')) {
        /* Mostly JSON; but a YAML file may open with a flow collection, so only a .json file
         * insists on JSON. */
        rc = mf_parse_json(&r, off, !mf_has_suffix(name, ".json"));
        if (rc == -2) {
            manifest_clear(&m);
            m.file = xstrdup(name);
            rc = mf_parse_yaml(&r);
        }
    } else {
        rc = mf_parse_yaml(&r);
    }
    if (rc < 0 || diags->errors > r.errors_before) {
        manifest_clear(&m);
        return -1;
    }
    *out = m;
    return 0;
}

int
manifest_read_file(const char *path, struct manifest *out, struct diags *diags)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? MANIFEST_STDIN_NAME : path;
    char *data = NULL;
    struct stat st;
    size_t len = 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        diags_add(diags, false, name, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        diags_add(diags, false, name, 0, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        diags_add(diags, false, name, 0, 0, "is a directory");
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > MANIFEST_MAX_BYTES) {
        diags_add(diags, false, name, 0, 0, "larger than %zu MiB", MANIFEST_MAX_BYTES >> 20);
        goto out;
    }
    switch (file_read_fd(fd, MANIFEST_MAX_BYTES, &data, &len)) {
    case 0:
        break;
    case FILE_TOO_LARGE:
        diags_add(diags, false, name, 0, 0, "larger than %zu MiB", MANIFEST_MAX_BYTES >> 20);
        goto out;
    default:
        diags_add(diags, false, name, 0, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    rc = manifest_read_buffer(name, data, len, out, diags);
out:
    free(data);
    if (!is_stdin)
        close(fd);
    return rc;
}
