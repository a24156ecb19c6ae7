/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics: problems found in a policy file, each at its file, line and column. */
#include "policy/diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include "policy/xalloc.h"

void
diags_init(struct diags *d)
{
    d->items = NULL;
    d->count = d->cap = d->errors = 0;
}

void
diags_free(struct diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->items[i].file);
    free(d->items);
    diags_init(d);
}

void
diags_add(struct diags *d, bool warning, const char *file, unsigned line, unsigned column,
          const char *fmt, ...)
{
    struct diag *item;
    va_list ap;

    xgrow(&d->items, &d->cap, d->count + 1, sizeof(*d->items));
    item = &d->items[d->count++];
    item->file = xstrdup(file ? file : "<input>");
    item->line = line;
    item->column = column;
    item->warning = warning;
    va_start(ap, fmt);
    vsnprintf(item->message, sizeof(item->message), fmt, ap);
    va_end(ap);
    if (!warning)
        d->errors++;
}

void
diag_format(const struct diag *item, char *buf, size_t size)
{
    const char *kind = item->warning ? "warning: " : "";

    if (item->line > 0)
        snprintf(buf, size, "%s:%u:%u: %s%s", item->file, item->line, item->column, kind,
                 item->message);
    else
        snprintf(buf, size, "%s: %s%s", item->file, kind, item->message);
}

void
diags_print(const struct diags *d, FILE *out)
{
    char line[DIAG_MESSAGE_MAX + 512];

    for (size_t i = 0; i < d->count; i++) {
        diag_format(&d->items[i], line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
}
