/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics: problems found in a policy file, each at its file, line and column. */
#include "policy/diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include <yaml.h>

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

void
diag_offset_position(const char *data, size_t len, size_t offset, unsigned *line, unsigned *column)
{
    size_t start = 0;

    *line = 1;
    if (offset > len)
        offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (data[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    }
    *column = (unsigned)(offset - start) + 1;
}

void
diag_yaml_problem(const struct yaml_parser_s *parser, const char *data, size_t len, unsigned *line,
                  unsigned *column, char *buf, size_t size)
{
    const char *problem = parser->problem != NULL ? parser->problem : "invalid YAML";

    if (parser->error == YAML_READER_ERROR) {
        diag_offset_position(data, len, parser->problem_offset, line, column);
        snprintf(buf, size, "%s", problem);
        return;
    }
    *line = (unsigned)parser->problem_mark.line + 1;
    *column = (unsigned)parser->problem_mark.column + 1;
    if (parser->context != NULL)
        snprintf(buf, size, "%s (%s at line %u, column %u)", problem, parser->context,
                 (unsigned)parser->context_mark.line + 1,
                 (unsigned)parser->context_mark.column + 1);
    else
        snprintf(buf, size, "%s", problem);
}
