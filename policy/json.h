/* SPDX-License-Identifier: Apache-2.0 */
/* Small cJSON lookups shared by the policy engine and the webhook. */
#ifndef GTW_JSON_H
#define GTW_JSON_H

#include <string.h>

#include <cjson/cJSON.h>

/*
 * Returns obj's first member named key (borrowed from obj), or NULL, as
 * cJSON_GetObjectItemCaseSensitive does for an object. Names are compared by their first byte
 * before the rest: most members of a large object are passed over without a call to strcmp.
 */
static inline cJSON *
json_get(const cJSON *obj, const char *key)
{
    if (obj == NULL || key == NULL)
        return NULL;
    for (cJSON *c = obj->child; c != NULL; c = c->next)
        if (c->string != NULL && c->string[0] == key[0] && strcmp(c->string, key) == 0)
            return c;
    return NULL;
}

/* Returns obj's member key when it is a string (borrowed from obj), or NULL. */
static inline const char *
json_string(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(json_get(obj, key));
}

#endif
