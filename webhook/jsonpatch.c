/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Patch (RFC 6902) applied to cJSON documents, with JSON Pointers (RFC 6901) as paths. */
#include "webhook/jsonpatch.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/json.h"
#include "policy/xalloc.h"

/* Paths quoted in messages are cut to this many bytes. */
#define JP_QUOTE_MAX 120

/* Where a pointer lands: the container holding the target, and the target's name in it. */
struct jp_target {
    cJSON *parent; /* NULL when the pointer is "", the whole document */
    char *token;   /* owned; the last reference token, unescaped; NULL with parent */
};

static void
jp_target_clear(struct jp_target *t)
{
    free(t->token);
    t->token = NULL;
    t->parent = NULL;
}

/*
 * Reads the reference token at *p (just after a '/') into a new string, turning "~1" into '/'
 * and "~0" into '~', and moves *p to the next '/' or the end. Returns NULL for a '~' followed by
 * anything else, which RFC 6901 leaves undefined.
 */
static char *
jp_token_next(const char **p)
{
    const char *s = *p, *end = strchr(s, '/');
    size_t len = end ? (size_t)(end - s) : strlen(s), n = 0;
    char *token = xmalloc(len + 1);

    for (size_t i = 0; i < len; i++) {
        if (s[i] != '~') {
            token[n++] = s[i];
        } else if (i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1')) {
            token[n++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            free(token);
            return NULL;
        }
    }
    token[n] = '\0';
    *p = s + len;
    return token;
}

/*
 * Parses an array index token: "0" or digits without a leading zero, below size, or equal to
 * size too when at_end is allowed (an "add" may append); "-" means size then. Returns 0 or -1.
 */
static int
jp_index(const char *token, int size, bool at_end, int *out)
{
    long long n = 0;

    if (strcmp(token, "-") == 0) {
        if (!at_end)
            return -1;
        *out = size;
        return 0;
    }
    if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
        return -1;
    for (const char *c = token; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        n = n * 10 + (*c - '0');
        if (n > INT_MAX)
            return -1;
    }
    if (n > size || (n == size && !at_end))
        return -1;
    *out = (int)n;
    return 0;
}

/* Returns the member or item of container named by token, or NULL. */
static cJSON *
jp_child(const cJSON *container, const char *token)
{
    int i;

    if (cJSON_IsObject(container))
        return json_get(container, token);
    if (cJSON_IsArray(container) && jp_index(token, cJSON_GetArraySize(container), false, &i) == 0)
        return cJSON_GetArrayItem(container, i);
    return NULL;
}

/*
 * Walks pointer in root down to the container of its last token. Returns 0 and fills out, or
 * -1 with why set when the pointer is malformed or a step on the way does not exist.
 */
static int
jp_locate(cJSON *root, const char *pointer, struct jp_target *out, char *why, size_t why_size)
{
    const char *p = pointer;
    cJSON *current = root;
    char *token = NULL;

    if (*p == '\0') {
        out->parent = NULL;
        out->token = NULL;
        return 0;
    }
    if (*p != '/') {
        snprintf(why, why_size, "\"%.*s\" is not a JSON Pointer", JP_QUOTE_MAX, pointer);
        return -1;
    }
    for (;;) {
        p++; /* the '/' */
        token = jp_token_next(&p);
        if (token == NULL) {
            snprintf(why, why_size, "\"%.*s\" has a '~' not followed by 0 or 1", JP_QUOTE_MAX,
                     pointer);
            return -1;
        }
        if (*p == '\0')
            break;
        current = jp_child(current, token);
        free(token);
        token = NULL;
        if (current == NULL) {
            snprintf(why, why_size, "\"%.*s\" does not exist", JP_QUOTE_MAX, pointer);
            return -1;
        }
    }
    if (!cJSON_IsObject(current) && !cJSON_IsArray(current)) {
        free(token);
        snprintf(why, why_size, "the parent of \"%.*s\" is neither an object nor an array",
                 JP_QUOTE_MAX, pointer);
        return -1;
    }
    out->parent = current;
    out->token = token;
    return 0;
}

cJSON *
jsonpatch_pointer_get(const cJSON *doc, const char *pointer)
{
    struct jp_target t;
    cJSON *found;
    char why[8];

    /*
     * Like strchr, this hands back a mutable pointer into a const argument: jp_locate only reads
     * through it, and one walker then serves both the lookups and the edits.
     */
    if (jp_locate((cJSON *)(uintptr_t)doc, pointer, &t, why, sizeof(why)) < 0)
        return NULL;
    found = t.parent == NULL ? (cJSON *)(uintptr_t)doc : jp_child(t.parent, t.token);
    jp_target_clear(&t);
    return found;
}

/*
 * Inserts value (owned) into array before the item at index, or at the end for its size. Not
 * cJSON_InsertItemInArray: the cJSON of Debian 12 (1.7.15 with security backports) refuses to
 * insert anywhere but at the front or the end. The tail is moved aside and appended back.
 */
static void
jp_array_insert(cJSON *array, int index, cJSON *value)
{
    cJSON *tail = cJSON_CreateArray(), *item = cJSON_GetArrayItem(array, index), *next;

    for (; item != NULL; item = next) {
        next = item->next;
        cJSON_AddItemToArray(tail, cJSON_DetachItemViaPointer(array, item));
    }
    cJSON_AddItemToArray(array, value);
    while ((item = tail->child) != NULL)
        cJSON_AddItemToArray(array, cJSON_DetachItemViaPointer(tail, item));
    cJSON_Delete(tail);
}

/*
 * Puts value at the located target, the "add" of RFC 6902: replaces the whole document, sets an
 * object member (replacing one of that name), or inserts into an array (at its end for "-").
 * Takes ownership of value in every case. Returns 0, or -1 with why set.
 */
static int
jp_put(cJSON **root, const struct jp_target *t, cJSON *value, const char *path, char *why,
       size_t why_size)
{
    int index;

    if (t->parent == NULL) {
        cJSON_Delete(*root);
        *root = value;
        return 0;
    }
    if (cJSON_IsObject(t->parent)) {
        if (json_get(t->parent, t->token) != NULL) {
            if (!cJSON_ReplaceItemInObjectCaseSensitive(t->parent, t->token, value))
                goto fail;
            return 0;
        }
        if (!cJSON_AddItemToObject(t->parent, t->token, value))
            goto fail;
        return 0;
    }
    if (jp_index(t->token, cJSON_GetArraySize(t->parent), true, &index) < 0) {
        snprintf(why, why_size, "\"%.*s\": no index %s in an array of %d", JP_QUOTE_MAX, path,
                 t->token, cJSON_GetArraySize(t->parent));
        cJSON_Delete(value);
        return -1;
    }
    /* A value moved out of an object still carries its member name; an array item has none. */
    if (value->string != NULL && !(value->type & cJSON_StringIsConst))
        cJSON_free(value->string);
    value->string = NULL;
    value->type &= ~cJSON_StringIsConst;
    jp_array_insert(t->parent, index, value);
    return 0;
fail:
    snprintf(why, why_size, "\"%.*s\" cannot be set", JP_QUOTE_MAX, path);
    cJSON_Delete(value);
    return -1;
}

/*
 * Replaces the located target, which must exist, by value, keeping its place among its
 * siblings. Takes ownership of value in every case. Returns 0, or -1 with why set.
 */
static int
jp_replace(cJSON **root, const struct jp_target *t, cJSON *value, const char *path, char *why,
           size_t why_size)
{
    int index;
    bool ok = false;

    if (t->parent == NULL) {
        cJSON_Delete(*root);
        *root = value;
        return 0;
    }
    if (cJSON_IsObject(t->parent)) {
        ok = json_get(t->parent, t->token) != NULL &&
             cJSON_ReplaceItemInObjectCaseSensitive(t->parent, t->token, value);
    } else if (jp_index(t->token, cJSON_GetArraySize(t->parent), false, &index) == 0) {
        ok = cJSON_ReplaceItemInArray(t->parent, index, value);
    }
    if (!ok) {
        snprintf(why, why_size, "\"%.*s\" does not exist", JP_QUOTE_MAX, path);
        cJSON_Delete(value);
        return -1;
    }
    return 0;
}

/* Detaches and returns the located target (which must exist), or NULL with why set. */
static cJSON *
jp_take(cJSON **root, const struct jp_target *t, const char *path, char *why, size_t why_size)
{
    cJSON *item = NULL;
    int index;

    if (t->parent == NULL) {
        item = *root;
        *root = NULL;
        return item;
    }
    if (cJSON_IsObject(t->parent))
        item = cJSON_DetachItemFromObjectCaseSensitive(t->parent, t->token);
    else if (jp_index(t->token, cJSON_GetArraySize(t->parent), false, &index) == 0)
        item = cJSON_DetachItemFromArray(t->parent, index);
    if (item == NULL)
        snprintf(why, why_size, "\"%.*s\" does not exist", JP_QUOTE_MAX, path);
    return item;
}

/* Applies one operation to *root. Returns 0, or -1 with why set. */
static int
jp_apply_one(cJSON **root, const cJSON *op, char *why, size_t why_size)
{
    const char *name = json_string(op, "op"), *path = json_string(op, "path");
    const char *from = json_string(op, "from");
    const cJSON *value = json_get(op, "value");
    struct jp_target t = {0}, f = {0};
    cJSON *item;
    int rc = -1;

    if (name == NULL || path == NULL) {
        snprintf(why, why_size, "an operation needs string members \"op\" and \"path\"");
        return -1;
    }
    if ((strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 || strcmp(name, "test") == 0) &&
        value == NULL) {
        snprintf(why, why_size, "%s needs a \"value\"", name);
        return -1;
    }
    if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from == NULL) {
        snprintf(why, why_size, "%s needs a string \"from\"", name);
        return -1;
    }

    if (strcmp(name, "add") == 0) {
        if (jp_locate(*root, path, &t, why, why_size) < 0)
            goto out;
        rc = jp_put(root, &t, cJSON_Duplicate(value, true), path, why, why_size);
    } else if (strcmp(name, "remove") == 0) {
        if (jp_locate(*root, path, &t, why, why_size) < 0)
            goto out;
        if (t.parent == NULL) {
            snprintf(why, why_size, "the whole document cannot be removed");
            goto out;
        }
        item = jp_take(root, &t, path, why, why_size);
        if (item == NULL)
            goto out;
        cJSON_Delete(item);
        rc = 0;
    } else if (strcmp(name, "replace") == 0) {
        if (jp_locate(*root, path, &t, why, why_size) < 0)
            goto out;
        rc = jp_replace(root, &t, cJSON_Duplicate(value, true), path, why, why_size);
    } else if (strcmp(name, "test") == 0) {
        item = jsonpatch_pointer_get(*root, path);
        if (item == NULL) {
            snprintf(why, why_size, "\"%.*s\" does not exist", JP_QUOTE_MAX, path);
            goto out;
        }
        if (!cJSON_Compare(item, value, true)) {
            snprintf(why, why_size, "\"%.*s\" does not hold the tested value", JP_QUOTE_MAX, path);
            goto out;
        }
        rc = 0;
    } else if (strcmp(name, "copy") == 0) {
        item = jsonpatch_pointer_get(*root, from);
        if (item == NULL) {
            snprintf(why, why_size, "\"%.*s\" does not exist", JP_QUOTE_MAX, from);
            goto out;
        }
        item = cJSON_Duplicate(item, true);
        if (jp_locate(*root, path, &t, why, why_size) < 0) {
            cJSON_Delete(item);
            goto out;
        }
        rc = jp_put(root, &t, item, path, why, why_size);
    } else if (strcmp(name, "move") == 0) {
        size_t flen = strlen(from);

        if (strncmp(path, from, flen) == 0 && path[flen] == '/') {
            snprintf(why, why_size, "\"%.*s\" cannot be moved into itself", JP_QUOTE_MAX, from);
            goto out;
        }
        if (jp_locate(*root, from, &f, why, why_size) < 0)
            goto out;
        item = jp_take(root, &f, from, why, why_size);
        if (item == NULL)
            goto out;
        /* A move is a remove then an add: the target path is read after the removal. */
        if (jp_locate(*root, path, &t, why, why_size) < 0) {
            cJSON_Delete(item);
            goto out;
        }
        rc = jp_put(root, &t, item, path, why, why_size);
    } else {
        snprintf(why, why_size, "unknown operation \"%.*s\"", JP_QUOTE_MAX, name);
    }
out:
    jp_target_clear(&t);
    jp_target_clear(&f);
    return rc;
}

int
jsonpatch_apply(cJSON **doc, const cJSON *patch, char *why, size_t why_size)
{
    cJSON *work = NULL;
    const cJSON *op;
    char reason[256];
    int i = 0, rc = -1;

    if (!cJSON_IsArray(patch)) {
        snprintf(why, why_size, "a JSON Patch must be an array of operations");
        goto out;
    }
    work = cJSON_Duplicate(*doc, true);
    cJSON_ArrayForEach(op, patch)
    {
        if (!cJSON_IsObject(op)) {
            snprintf(why, why_size, "operation %d is not an object", i);
            goto out;
        }
        if (jp_apply_one(&work, op, reason, sizeof(reason)) < 0) {
            const char *name = json_string(op, "op"), *path = json_string(op, "path");
            snprintf(why, why_size, "operation %d (%s %.*s): %s", i, name ? name : "?",
                     JP_QUOTE_MAX, path ? path : "?", reason);
            goto out;
        }
        i++;
    }
    cJSON_Delete(*doc);
    *doc = work;
    work = NULL;
    rc = 0;
out:
    cJSON_Delete(work);
    return rc;
}
