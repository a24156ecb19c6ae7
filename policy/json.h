/* SPDX-License-Identifier: Apache-2.0 */
/* Small cJSON lookups shared by the policy engine and the webhook. */
#ifndef GTW_JSON_H
#define GTW_JSON_H

#include <cjson/cJSON.h>

/* Returns obj's member key when it is a string (borrowed from obj), or NULL. */
static inline const char *
json_string(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

#endif
