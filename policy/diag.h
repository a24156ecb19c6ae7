/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics: problems found in a policy file, each at its file, line and column. */
#ifndef GTW_DIAG_H
#define GTW_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DIAG_MESSAGE_MAX 256

struct diag {
    char *file;                     /* owned */
    unsigned line;                  /* 1-based; 0 when the problem has no position */
    unsigned column;                /* 1-based */
    bool warning;                   /* a warning does not make the file invalid */
    char message[DIAG_MESSAGE_MAX]; /* one line, no trailing newline */
};

struct diags {
    struct diag *items;
    size_t count, cap;
    size_t errors; /* how many items are errors, not warnings */
};

void diags_init(struct diags *d);
void diags_free(struct diags *d);
/* Records an error (warning false) or a warning; line and column are 1-based, 0 for none. */
void diags_add(struct diags *d, bool warning, const char *file, unsigned line, unsigned column,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Prints every item as "file:line:column: message" ("warning: " before warnings' messages). */
void diags_print(const struct diags *d, FILE *out);
/* Formats item i into buf the same way, without newline. */
void diag_format(const struct diag *item, char *buf, size_t size);

/* Finds the 1-based line and column of a byte offset into data (len bytes). */
void diag_offset_position(const char *data, size_t len, size_t offset, unsigned *line,
                          unsigned *column);

/*
 * Says why libyaml's parser stopped on data (len bytes): the message into buf, its 1-based
 * position into *line and *column. A reader error (bad encoding) has only a byte offset.
 */
struct yaml_parser_s;
void diag_yaml_problem(const struct yaml_parser_s *parser, const char *data, size_t len,
                       unsigned *line, unsigned *column, char *buf, size_t size);

#endif
